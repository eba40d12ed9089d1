"""How the provider schema is obtained (scripts/provider_schema.py): the pin is enforced, names
come from the registry links and the generator's comments, never from case conversion, and the
committed file is the pinned version's."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REGISTRY = "https://registry.terraform.io/providers/hashicorp/aws/6.66.0/docs/resources/thing"
PREFIX = "@cdktn/provider-aws.thing."


def _docs(name: str, block: bool = False) -> dict[str, str]:
    link = f"Docs at Terraform Registry: {{@link {REGISTRY}#{name} Thing#{name}}}"
    return {"summary": f"{name} block.", "remarks": link} if block else {"summary": f"{link}."}


def _list_of(struct: str) -> dict[str, Any]:
    element = {"collection": {"elementtype": {"fqn": PREFIX + struct}, "kind": "array"}}
    return {"union": {"types": [{"fqn": "cdktn.IResolvable"}, element]}}


# A miniature jsii manifest shaped like cdktn's: one resource with an argument whose camelCase
# does not convert back (m3u8_settings), a nested block that contains itself, an object-typed
# argument (SDK v2 `ingress`), and computed attributes named only in the generated JavaScript.
MANIFEST: dict[str, Any] = {
    "name": "@cdktn/provider-aws",
    "types": {
        PREFIX + "Thing": {
            "kind": "class",
            "base": "cdktn.TerraformResource",
            "name": "Thing",
            "docs": {"summary": f"Represents a {{@link {REGISTRY} aws_thing}}."},
            "initializer": {"parameters": [{"type": {"fqn": PREFIX + "ThingConfig"}}]},
            "properties": [
                {"name": "tfResourceType", "static": True},
                {"name": "checksumCrc32C"},
                {"name": "m3U8Settings"},
                {"name": "m3U8SettingsInput"},
                {"name": "rule"},
            ],
        },
        PREFIX + "ThingConfig": {
            "kind": "interface",
            "properties": [
                {"name": "m3U8Settings", "docs": _docs("m3u8_settings"), "type": {}},
                {
                    "name": "rule",
                    "optional": True,
                    "docs": _docs("rule", block=True),
                    "type": _list_of("ThingRule"),
                },
                {
                    "name": "ingress",
                    "optional": True,
                    "docs": _docs("ingress"),
                    "type": _list_of("ThingIngress"),
                },
            ],
        },
        PREFIX + "ThingRule": {
            "kind": "interface",
            "properties": [
                {"name": "name", "optional": True, "docs": _docs("name"), "type": {}},
                {
                    "name": "statement",
                    "optional": True,
                    "docs": _docs("statement", block=True),
                    "type": {"fqn": PREFIX + "ThingRule"},
                },
            ],
        },
        PREFIX + "ThingRuleOutputReference": {
            "kind": "class",
            "name": "ThingRuleOutputReference",
            "properties": [{"name": "internalValue"}, {"name": "nameInput"}, {"name": "ruleId"}],
        },
        PREFIX + "ThingIngress": {
            "kind": "interface",
            "properties": [{"name": "selfAttribute", "docs": _docs("self"), "type": {}}],
        },
    },
}
JAVASCRIPT = """
class ThingRuleOutputReference extends cdktn.ComplexObject {
    // rule_id - computed: true, optional: false, required: false
    get ruleId() {
        return this.getStringAttribute('rule_id');
    }
}
class Thing extends cdktn.TerraformResource {
    // checksum_crc32c - computed: true, optional: false, required: false
    get checksumCrc32C() {
        return this.getStringAttribute('checksum_crc32c');
    }
    // m3u8_settings - computed: false, optional: false, required: true
    _m3U8Settings;
    get m3U8Settings() {
        return this.getStringAttribute('m3u8_settings');
    }
}
"""


@pytest.fixture(scope="module")
def schema_module(load_script: Callable[[str], ModuleType]) -> ModuleType:
    return load_script("provider_schema")


def test_derive_takes_names_from_registry_links_and_getter_comments(
    schema_module: ModuleType,
) -> None:
    # GIVEN the miniature manifest and the getter names of its generated JavaScript
    names: dict[str, dict[str, str]] = {}
    schema_module._read_getter_names(JAVASCRIPT, names)

    # WHEN deriving the schema
    schema = schema_module.derive(MANIFEST, names)

    # THEN names are exact (case conversion would say m3_u8_settings, checksum_crc32_c,
    # self_attribute), required-ness, blocks and computed attributes are kept, the input twin
    # of an argument is not an attribute, and the self-containing block is left open
    thing = schema["resource"]["aws_thing"]
    assert thing["args"] == {"m3u8_settings": True, "ingress": False}
    assert thing["attrs"] == ["checksum_crc32c"]
    assert thing["objects"]["ingress"]["args"] == {"self": True}
    rule = thing["blocks"]["rule"]
    assert (rule["required"], rule["args"], rule["attrs"]) == (False, {"name": False}, ["rule_id"])
    assert rule["blocks"]["statement"]["open"] is True
    assert schema["guessed_names"] == 0


def test_the_committed_schema_is_the_pinned_version_with_exact_names(
    schema_module: ModuleType,
) -> None:
    # GIVEN the committed schema
    schema = schema_module.load_schema()

    # THEN it is the pinned release's, complete, and no name in it was guessed
    assert (schema["provider_version"], schema["package_version"]) == ("6.66.0", "25.7.0")
    assert len(schema["resource"]) > 1500 and len(schema["data"]) > 600
    assert schema["guessed_names"] == 0
    # names case conversion gets wrong, taken from the manifest as Terraform spells them
    assert "checksum_crc32c" in schema["resource"]["aws_s3_object_copy"]["attrs"]
    assert "self" in schema["resource"]["aws_security_group"]["objects"]["ingress"]["args"]
    # a block the provider allows once (MaxItems 1) and one it allows many times
    bucket = schema["resource"]["aws_s3_bucket"]["blocks"]
    assert bucket["versioning"].get("single") and not bucket["cors_rule"].get("single")
    lambda_function = schema["resource"]["aws_lambda_function"]
    assert {k for k, required in lambda_function["args"].items() if required} == {
        "function_name",
        "role",
    }


def test_a_schema_of_another_version_is_refused_naming_the_fix(
    schema_module: ModuleType, tmp_path: Path
) -> None:
    # GIVEN a schema file derived from another package version
    stale = json.loads(schema_module.SCHEMA_FILE.read_text(encoding="utf-8"))
    stale["package_version"] = "25.6.0"
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(stale), encoding="utf-8")

    # WHEN loading it THEN it is refused with the command that regenerates it
    with pytest.raises(schema_module.SchemaError, match="--regenerate"):
        schema_module.load_schema(path)


def test_the_wheel_is_fetched_hash_pinned_and_checked_again(
    schema_module: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN pip answering with a wheel whose bytes are not the pinned ones
    commands: list[list[str]] = []

    def fake_pip(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        commands.append(command)
        (tmp_path / "cdktn_provider_aws-25.7.0-py3-none-any.whl").write_bytes(b"tampered")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(schema_module.subprocess, "run", fake_pip)

    # WHEN fetching THEN the wheel is refused, and pip was told the version, the hash, no deps
    with pytest.raises(schema_module.SchemaError, match="sha256 differs"):
        schema_module.fetch_wheel(tmp_path)
    assert "--no-deps" in commands[0] and "--only-binary=:all:" in commands[0]
    requirement = (tmp_path / "requirements.txt").read_text(encoding="utf-8")
    assert requirement.strip() == (
        f"cdktn-provider-aws==25.7.0 --hash=sha256:{schema_module.WHEEL_SHA256}"
    )


def test_a_wheel_embedding_another_tarball_is_refused(
    schema_module: ModuleType, tmp_path: Path
) -> None:
    # GIVEN a wheel whose embedded npm tarball is not the pinned one
    tarball = io.BytesIO()
    with tarfile.open(fileobj=tarball, mode="w:gz") as tar:
        data = json.dumps(MANIFEST).encode()
        member = tarfile.TarInfo("package/.jsii")
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data))
    wheel = tmp_path / "x.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(schema_module.JSII_TARBALL, tarball.getvalue())
    assert hashlib.sha256(tarball.getvalue()).hexdigest() != schema_module.JSII_TARBALL_SHA256

    # WHEN reading it THEN it is refused before anything is derived
    with pytest.raises(schema_module.SchemaError, match="sha256 differs"):
        schema_module.read_package(wheel)


def test_a_package_generated_from_another_provider_release_is_refused(
    schema_module: ModuleType,
) -> None:
    # GIVEN package.json files naming the pinned release and another one
    def package_json(version: str) -> dict[str, Any]:
        provider = {"name": "registry.terraform.io/hashicorp/aws", "version": version}
        return {"cdktn": {"provider": provider}}

    # WHEN checking them THEN only the pinned release passes
    schema_module._check_provider_version(package_json(schema_module.PROVIDER_VERSION))
    with pytest.raises(schema_module.SchemaError, match="6.25.0"):
        schema_module._check_provider_version(package_json("6.25.0"))
