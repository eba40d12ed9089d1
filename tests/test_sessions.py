"""utils.new_session: each session keeps its own credentials and region, and all of them read the
service models through one loader (parsed once per process)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.loaders import JSONFileLoader

from utils import new_session


def test_sessions_share_one_model_loader_and_keep_their_own_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = new_session(aws_access_key_id="AKIDFIRST", aws_secret_access_key="s1",
                        region_name="us-east-1")  # fmt: skip
    first.client("sagemaker")
    read: list[str] = []
    original = JSONFileLoader.load_file

    def counting(self: JSONFileLoader, file_path: str) -> Any:
        read.append(file_path)
        return original(self, file_path)

    monkeypatch.setattr(JSONFileLoader, "load_file", counting)
    second = new_session(aws_access_key_id="AKIDSECOND", aws_secret_access_key="s2",
                         region_name="eu-west-1")  # fmt: skip

    # the second session's client is built from what the first one read: no model file again
    second.client("sagemaker")
    assert read == []
    assert second._session.get_component("data_loader") is first._session.get_component(
        "data_loader"
    )
    credentials = second.get_credentials()
    assert credentials is not None and credentials.access_key == "AKIDSECOND"
    assert (first.region_name, second.region_name) == ("us-east-1", "eu-west-1")
