"""The stage module and the root that calls it: pins, the per-stage S3 backend and the provider
in the root only, the module's source the only line a model repository changes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.terraform.conftest import REPO_ROOT, STAGE_ROOT

PINS = {"source": "hashicorp/aws", "version": ">= 5.100, < 7"}


def test_module_and_root_pin_terraform_and_the_aws_provider(
    stage_module: dict[str, Any], root_module: dict[str, Any]
) -> None:
    for module in (stage_module, root_module):
        (terraform,) = module["terraform"]
        assert terraform["required_version"] == ">= 1.10"
        (providers,) = terraform["required_providers"]
        # 5.100 is applied here (the lock); 6.x is checked offline against its schema.
        assert providers["aws"] == PINS


def test_the_module_has_resources_only(stage_module: dict[str, Any]) -> None:
    # No backend and no provider configuration: the root that calls it owns both.
    (terraform,) = stage_module["terraform"]
    assert "backend" not in terraform
    assert stage_module["provider"] == {}


def test_every_provider_used_is_declared(stage_module: dict[str, Any]) -> None:
    # GIVEN the provider prefix of every resource and data source type
    used = {
        type_name.split("_", 1)[0]
        for kind in ("resource", "data")
        for type_name in stage_module[kind]
    }
    # THEN each is in required_providers
    (providers,) = stage_module["terraform"][0]["required_providers"]
    assert used <= set(providers), used - set(providers)


def test_root_backend_is_s3_with_native_locking_and_encryption_completed_per_stage(
    root_module: dict[str, Any],
) -> None:
    (backend,) = root_module["terraform"][0]["backend"]
    # bucket, key, region and kms_key_id come from -backend-config per stage.
    assert backend == {"s3": {"use_lockfile": True, "encrypt": True}}


def test_root_provider_uses_the_stage_files_region_and_account_without_default_tags(
    root_module: dict[str, Any],
) -> None:
    provider = root_module["provider"]["aws"]
    assert provider["region"] == "${local.config.region}"
    assert provider["allowed_account_ids"] == ["${local.config.account_id}"]
    assert "default_tags" not in provider  # the module tags its resources itself
    assert root_module["locals"]["config"] == (
        '${jsondecode(file("${path.cwd}/${var.stage}-config.tfvars.json"))}'
    )


def test_the_module_source_is_the_only_line_a_model_repository_changes(
    root_module: dict[str, Any],
) -> None:
    # GIVEN the root's call of the stage module
    (call,) = root_module["module"].values()
    # THEN here it is the repository root; a model repository's main.tf is this file with a
    # git source at its pinned tag, so nothing else in the file names this repository's layout
    assert call["source"] == "../"
    text = (REPO_ROOT / STAGE_ROOT / "main.tf").read_text(encoding="utf-8")
    code = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    assert [line for line in code if "../" in line] == ['  source = "../"']
    assert "stage-root" not in "\n".join(code)


def test_partition_and_account_come_from_data_sources_and_the_region_from_the_provider(
    stage_module: dict[str, Any], module_files: tuple[Path, ...]
) -> None:
    data = stage_module["data"]
    assert {"aws_partition", "aws_caller_identity"} <= set(data)
    # The provider's region is config.region; aws_region's attribute is `name` in 5.x, `region`
    # in 6.x.
    assert "aws_region" not in data
    assert stage_module["locals"]["region"] == "${var.config.region}"
    # No hand-written ARN with a fixed partition, account or region.
    for path in module_files:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"arn:aws:[a-z0-9-]*:[a-z0-9-]*:[0-9]{12}", text), path.name
        assert not re.search(r'"arn:aws:', text), path.name
