"""versions.tf: Terraform and provider pins, the per-stage S3 backend, the provider itself."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any


def test_terraform_and_aws_provider_are_pinned(root_module: dict[str, Any]) -> None:
    (terraform,) = root_module["terraform"]
    assert terraform["required_version"] == ">= 1.10"
    (providers,) = terraform["required_providers"]
    # 5.100 is applied here (the lock); 6.x is checked offline against its schema.
    assert providers["aws"] == {"source": "hashicorp/aws", "version": ">= 5.100, < 7"}


def test_every_provider_used_is_declared(root_module: dict[str, Any]) -> None:
    # GIVEN the provider prefix of every resource and data source type
    used = {
        type_name.split("_", 1)[0]
        for kind in ("resource", "data")
        for type_name in root_module[kind]
    }
    # THEN each is in required_providers
    (providers,) = root_module["terraform"][0]["required_providers"]
    assert used <= set(providers), used - set(providers)


def test_backend_is_s3_with_native_locking_and_encryption_completed_per_stage(
    root_module: dict[str, Any],
) -> None:
    (backend,) = root_module["terraform"][0]["backend"]
    # bucket, key and region come from -backend-config per stage: nothing stage-specific here.
    assert backend == {"s3": {"use_lockfile": True, "encrypt": True}}


def test_provider_uses_the_stage_region_account_and_default_tags(
    root_module: dict[str, Any],
) -> None:
    provider = root_module["provider"]["aws"]
    assert provider["region"] == "${var.region}"
    assert provider["allowed_account_ids"] == ["${var.account_id}"]
    assert provider["default_tags"] == [{"tags": "${local.tags}"}]


def test_partition_and_account_come_from_data_sources_and_the_region_from_the_provider(
    root_module: dict[str, Any], root_module_files: tuple[Path, ...]
) -> None:
    data = root_module["data"]
    assert {"aws_partition", "aws_caller_identity"} <= set(data)
    # The provider's region is var.region; aws_region's attribute is `name` in 5.x, `region` in 6.x.
    assert "aws_region" not in data
    assert root_module["locals"]["region"] == "${var.region}"
    # No hand-written ARN with a fixed partition, account or region.
    for path in root_module_files:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"arn:aws:[a-z0-9-]*:[a-z0-9-]*:[0-9]{12}", text), path.name
        assert not re.search(r'"arn:aws:', text), path.name
