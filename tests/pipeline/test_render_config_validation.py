"""Rendering validates the SDK config once per distinct config and process, and still refuses a bad
one."""

from __future__ import annotations

import uuid

import jsonschema
import pytest

from pipelines.definition.pipeline import _validate_config_once


def test_each_config_is_validated_once_and_a_bad_one_still_fails() -> None:
    # GIVEN the SDK's config manager
    from sagemaker.core.config.config_manager import SageMakerConfig

    original = SageMakerConfig.__dict__["validate_sagemaker_config"]
    calls: list[object] = []

    def counting(sagemaker_config: object = None) -> None:
        calls.append(sagemaker_config)
        original.__func__(sagemaker_config)

    SageMakerConfig.validate_sagemaker_config = staticmethod(counting)
    good = {"SchemaVersion": "1.0", "CustomParameters": {"render": uuid.uuid4().hex}}
    try:
        # WHEN two renders validate the same config many times, and a bad config each
        for _ in range(2):
            with _validate_config_once():
                for _ in range(40):
                    SageMakerConfig().validate_sagemaker_config(good)
                with pytest.raises(jsonschema.ValidationError):
                    SageMakerConfig().validate_sagemaker_config({"SchemaVersion": 1})
        restored = SageMakerConfig.__dict__["validate_sagemaker_config"]
    finally:
        SageMakerConfig.validate_sagemaker_config = original

    # THEN the schema ran once for the good config (a bad one is never remembered), and the SDK
    # is as it was afterwards
    assert calls == [good, {"SchemaVersion": 1}, {"SchemaVersion": 1}]
    assert restored.__func__ is counting
