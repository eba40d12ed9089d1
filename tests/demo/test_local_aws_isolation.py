"""The embedded AWS keeps the user's own AWS configuration out while it runs (a profile, its
files, a service's own endpoint variable) and gives it back afterwards: `make demo` in a shell set
up for real accounts neither stops on a profile nor sends a call to them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from testbed.local_aws import PRE_PROD_ACCOUNT, account_session, create_bucket, local_aws

USERS_SHELL = {
    "AWS_PROFILE": "team-prod",  # a profile this machine's config does not have
    "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9",  # nothing listens there
    "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:9",
}


def test_a_shell_set_up_for_real_accounts_reaches_only_the_embedded_aws(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a shell with a profile the config lacks and services' own endpoints elsewhere
    config = tmp_path / "config"
    config.write_text("[profile other]\nregion = eu-west-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    for key, value in USERS_SHELL.items():
        monkeypatch.setenv(key, value)

    # WHEN the embedded AWS runs
    with local_aws() as endpoint:
        # THEN an account's session assumes its role there and S3 calls land there
        session = account_session(PRE_PROD_ACCOUNT)
        create_bucket(session, "isolation-check")
        s3 = session.client("s3")
        assert s3.meta.endpoint_url == endpoint
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["isolation-check"]
        assert "AWS_PROFILE" not in os.environ

    # AND the shell is as it was afterwards
    assert {key: os.environ.get(key) for key in USERS_SHELL} == USERS_SHELL
    assert os.environ["AWS_CONFIG_FILE"] == str(config)
