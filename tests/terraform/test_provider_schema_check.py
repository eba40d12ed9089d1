"""The offline provider-schema check (scripts/tf_provider_check.py): it passes on the repository's
.tf files and fails, naming the problem, on deliberately broken snippets."""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import hcl2
import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"

# Accepted by `terraform validate`: meta-arguments, instance keys, splats, dynamic blocks with an
# iterator, SDK v2 attributes written as blocks, nested references, moved blocks, other providers.
VALID = """
variable "names" {
  type    = map(string)
  default = {}
}

locals {
  bucket_arns = aws_s3_bucket.many[*].arn
}

provider "aws" {
  region = "eu-west-1"
  alias  = "second"
  default_tags {
    tags = { Project = "x" }
  }
}

resource "aws_s3_bucket" "many" {
  count    = 2
  provider = aws.second
  bucket   = "b-${count.index}"
  timeouts {
    create = "5m"
  }
  lifecycle {
    prevent_destroy = false
  }
}

resource "aws_s3_bucket" "each" {
  for_each = var.names
  bucket   = each.value
}

resource "aws_security_group" "sg" {
  name = "sg"
  ingress {
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["10.0.0.0/8"]
  }
}

resource "aws_sagemaker_model" "m" {
  execution_role_arn = "arn:aws:iam::111111111111:role/r"
  primary_container {
    image = "x"
  }
  dynamic "vpc_config" {
    for_each = []
    iterator = v
    content {
      subnets            = v.value
      security_group_ids = [aws_security_group.sg.id]
    }
  }
  depends_on = [aws_s3_bucket.each]
}

resource "terraform_data" "other_provider" {
  input = "not the AWS provider's"
}

data "aws_caller_identity" "current" {}

moved {
  from = aws_s3_bucket.old
  to   = aws_s3_bucket.each
}

output "all" {
  value = [
    aws_s3_bucket.many[0].arn,
    aws_s3_bucket.many.*.bucket,
    aws_s3_bucket.each["a"].bucket_domain_name,
    aws_sagemaker_model.m.primary_container[0].image,
    data.aws_caller_identity.current.account_id,
    "${aws_s3_bucket.many[1].id}/key",
    local.bucket_arns,
  ]
}
"""

SCHEDULE = """
resource "aws_scheduler_schedule" "s" {
  schedule_expression = "rate(1 day)"
  flexible_time_window {
    mode = "OFF"
  }
  target {
    arn      = "arn"
    role_arn = "arn"
  }
}
"""

MODEL = 'resource "aws_sagemaker_model" "m" {\n  execution_role_arn = "r"\n'

BROKEN = {
    "wrong resource type": (
        'resource "aws_s3_buckets" "b" {}',
        "aws_s3_buckets.b: unknown resource type 'aws_s3_buckets' (did you mean 'aws_s3_bucket'?)",
    ),
    "wrong data source type": (
        'data "aws_caller_identitty" "c" {}',
        "data.aws_caller_identitty.c: unknown data type 'aws_caller_identitty'",
    ),
    "misspelt argument": (
        'resource "aws_s3_bucket" "b" {\n  buckett = "x"\n}',
        "aws_s3_bucket.b: unknown argument 'buckett' (did you mean 'bucket'?)",
    ),
    "missing required argument": (
        'resource "aws_iam_role" "r" {\n  name = "r"\n}',
        "aws_iam_role.r: required argument 'assume_role_policy' is missing",
    ),
    "missing required block": (
        SCHEDULE.replace('  target {\n    arn      = "arn"\n    role_arn = "arn"\n  }\n', ""),
        "aws_scheduler_schedule.s: required block 'target' is missing",
    ),
    "missing required argument in a nested block": (
        SCHEDULE.replace('    role_arn = "arn"\n', ""),
        "aws_scheduler_schedule.s.target: required argument 'role_arn' is missing",
    ),
    "wrong nested block": (
        'resource "aws_s3_bucket" "b" {\n  versionning {\n    enabled = true\n  }\n}',
        "aws_s3_bucket.b.versionning: unknown block 'versionning' (did you mean 'versioning'?)",
    ),
    "wrong dynamic block": (
        MODEL + '  dynamic "vpc_configs" {\n    for_each = []\n    content {}\n  }\n}',
        "aws_sagemaker_model.m.dynamic.vpc_configs.content: unknown block 'vpc_configs'",
    ),
    "misspelt argument in dynamic content": (
        MODEL + '  dynamic "vpc_config" {\n    for_each = []\n'
        "    content {\n      subnets            = []\n      security_group_ids = []\n"
        "      subnetz            = []\n    }\n  }\n}",
        "vpc_config.content: unknown argument 'subnetz' (did you mean 'subnets'?)",
    ),
    "block written as an argument": (
        MODEL + '  primary_container = { image = "x" }\n}',
        "aws_sagemaker_model.m: 'primary_container' is a block: write `primary_container {",
    ),
    "argument written as a block": (
        'resource "aws_s3_bucket" "b" {\n  tags {\n    a = "b"\n  }\n}',
        "aws_s3_bucket.b.tags: 'tags' is an argument: write `tags = ...`, not a block",
    ),
    "computed attribute set": (
        'resource "aws_s3_bucket" "b" {\n  arn = "x"\n}',
        "aws_s3_bucket.b: 'arn' is computed by the provider: it cannot be set",
    ),
    "unknown provider argument": (
        'provider "aws" {\n  regionn = "eu-west-1"\n}',
        "provider.aws: unknown argument 'regionn' (did you mean 'region'?)",
    ),
    "a single block given twice": (
        'resource "aws_s3_bucket" "b" {\n  versioning {\n    enabled = true\n  }\n'
        "  versioning {\n    enabled = false\n  }\n}",
        "aws_s3_bucket.b: at most one 'versioning' block is allowed, found 2",
    ),
    "a resource declared twice": (
        'resource "aws_s3_bucket" "b" {}\nresource "aws_s3_bucket" "b" {}',
        "aws_s3_bucket.b: declared twice (first in main.tf)",
    ),
    "bad attribute reference": (
        'resource "aws_s3_bucket" "b" {}\noutput "o" {\n  value = aws_s3_bucket.b.bucket_arn\n}',
        "output.o: aws_s3_bucket.b has no attribute 'bucket_arn'",
    ),
    "bad data source attribute reference": (
        'data "aws_caller_identity" "c" {}\noutput "o" {\n'
        "  value = data.aws_caller_identity.c.account\n}",
        "output.o: data.aws_caller_identity.c has no attribute 'account' (did you mean",
    ),
    "bad nested attribute reference": (
        MODEL + '}\noutput "o" {\n  value = aws_sagemaker_model.m.primary_container[0].imagee\n}',
        "aws_sagemaker_model.m.primary_container has no attribute 'imagee' (did you mean 'image'?)",
    ),
    "reference to an undeclared resource": (
        'output "o" {\n  value = "${aws_s3_bucket.missing.arn}/*"\n}',
        "output.o: reference to aws_s3_bucket.missing, which this module does not declare",
    ),
    "counted resource referenced without an index": (
        'resource "aws_s3_bucket" "b" {\n  count = 1\n}\noutput "o" {\n'
        "  value = aws_s3_bucket.b.arn\n}",
        "aws_s3_bucket.b has count or for_each: index it (aws_s3_bucket.b[...].arn)",
    ),
    "single resource referenced with an index": (
        'resource "aws_s3_bucket" "b" {}\noutput "o" {\n  value = aws_s3_bucket.b[0].arn\n}',
        "aws_s3_bucket.b has neither count nor for_each: drop its instance key",
    ),
    "not HCL at all": (
        'resource "aws_s3_bucket" "b" {\n  bucket =\n}\n',
        "main.tf: -: cannot parse: Unexpected token",
    ),
    "undeclared variable": (
        'resource "aws_s3_bucket" "b" {\n  bucket = var.bucket_name\n}',
        "aws_s3_bucket.b: var.bucket_name is not declared",
    ),
}


@pytest.fixture(scope="module")
def checker() -> Iterator[ModuleType]:
    """scripts/tf_provider_check.py, imported with its sibling scripts on the path."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(SCRIPTS))
        yield importlib.import_module("tf_provider_check")


@pytest.fixture(scope="module")
def provider_schema(checker: ModuleType) -> dict[str, Any]:
    """The committed schema of the pinned provider version."""
    schema: dict[str, Any] = checker.load_schema()
    return schema


def check(checker: ModuleType, schema: dict[str, Any], directory: Path, text: str) -> Any:
    (directory / "main.tf").write_text(text, encoding="utf-8")
    return checker.check_tree(directory, schema)


def test_modules_are_found_by_walking_the_tree_and_tool_directories_are_skipped(
    checker: ModuleType, tmp_path: Path
) -> None:
    # GIVEN a root module, a nested one (bootstrap/stage) and .tf files under tool directories
    for relative in ("main.tf", "bootstrap/stage/main.tf", ".terraform/modules/x/main.tf"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("", encoding="utf-8")
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "x.tf").write_text("", encoding="utf-8")

    # WHEN listing the modules
    modules = checker.terraform_modules(tmp_path)

    # THEN the two modules are found, the tool directories are not
    assert set(modules) == {tmp_path, tmp_path / "bootstrap" / "stage"}


def test_valid_terraform_with_every_tricky_form_passes(
    checker: ModuleType, provider_schema: dict[str, Any], tmp_path: Path
) -> None:
    # GIVEN a module `terraform validate` accepts, using meta-arguments, keys, splats, dynamic
    # blocks and attributes written as blocks
    # WHEN checking it
    report = check(checker, provider_schema, tmp_path, VALID)

    # THEN nothing is reported, other providers' types are left alone, references were checked
    assert [str(finding) for finding in report.findings] == []
    assert report.other_providers == 1
    assert report.references == 11  # the moved block's addresses are not references


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_snippet_fails_naming_the_problem(
    checker: ModuleType, provider_schema: dict[str, Any], tmp_path: Path, case: str
) -> None:
    # GIVEN a module with one deliberate mistake
    snippet, expected = BROKEN[case]

    # WHEN checking it
    report = check(checker, provider_schema, tmp_path, snippet)

    # THEN exactly that mistake is reported, with the file and the block's address
    findings = [str(finding) for finding in report.findings]
    assert len(findings) == 1, findings
    assert findings[0].startswith("main.tf: ")
    assert expected in findings[0]


def test_the_command_line_exits_1_and_prints_each_finding(
    checker: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a repository with one misspelt argument
    (tmp_path / "main.tf").write_text('resource "aws_s3_bucket" "b" {\n  buckett = "x"\n}\n')

    # WHEN the check runs as `make lint` runs it
    code = checker.main(["--root", str(tmp_path)])

    # THEN it fails with a summary line and the finding, indented
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert out[0].startswith("provider schema: FAILED (1 files in 1 modules: ")
    finding = "main.tf: aws_s3_bucket.b: unknown argument 'buckett' (did you mean 'bucket'?)"
    assert out[1] == f"    {finding}"


# A reference with an attribute: `aws_x.name.attr`, `aws_x.name[0].attr`, `data.aws_x.name.attr`.
_ATTRIBUTE = re.compile(r"((?:data\.)?aws_\w+\.\w+(?:\[[^\]]*\])?)\.(\w+)")
_META = {"count", "for_each", "provider", "depends_on", "lifecycle", "__is_block__"}


def _argument_sites(body: dict[str, Any], top: bool) -> Iterator[tuple[dict[str, Any], str]]:
    """Every argument and nested block name of a resource body, at every level."""
    for key, value in list(body.items()):
        if key.startswith("__") or (top and key in _META):
            continue
        if key == "dynamic":
            for entry in value:
                for inner in entry.values():
                    for content in inner.get("content", []):
                        yield from _argument_sites(content, top=False)
            continue
        yield body, key
        if isinstance(value, list) and value and isinstance(value[0], dict):
            for nested in value:
                yield from _argument_sites(nested, top=False)


def _string_sites(value: Any) -> Iterator[tuple[Any, Any]]:
    """(container, key) of every string holding an attribute reference."""
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in list(items):
        if isinstance(item, str) and _ATTRIBUTE.search(item):
            yield value, key
        elif isinstance(item, (dict, list)) and not str(key).startswith("__"):
            yield from _string_sites(item)


@pytest.fixture(scope="module")
def repository_modules(checker: ModuleType, repo_root: Path) -> list[dict[str, dict[str, Any]]]:
    """Each module of the repository as parsed content by file name."""
    modules = []
    for files in checker.terraform_modules(repo_root).values():
        modules.append(
            {str(p.relative_to(repo_root)): dict(hcl2.loads(p.read_text("utf-8"))) for p in files}
        )
    return modules


def _findings(
    checker: ModuleType, schema: dict[str, Any], module: dict[str, Any], references: bool = True
) -> list[str]:
    report = checker.Report()
    checker.check_module(module, schema, report, references=references)
    return [str(finding) for finding in report.findings]


def test_every_misspelt_argument_or_block_of_the_repository_is_caught(
    checker: ModuleType,
    provider_schema: dict[str, Any],
    repository_modules: list[dict[str, dict[str, Any]]],
) -> None:
    # GIVEN each argument and nested block name of every aws_* block in the repository
    missed, mutations = [], 0
    for module in repository_modules:
        assert _findings(checker, provider_schema, module) == []
        for document in module.values():
            for kind in ("resource", "data"):
                for entry in document.get(kind, []):
                    for type_label, by_name in entry.items():
                        for body in by_name.values() if "aws_" in type_label else []:
                            for site, key in list(_argument_sites(body, top=True)):
                                # WHEN that one name is misspelt
                                mutations += 1
                                site[f"{key}_x"] = site.pop(key)
                                found = _findings(checker, provider_schema, module, False)
                                site[key] = site.pop(f"{key}_x")
                                # THEN the check names it
                                if not any(f"'{key}_x'" in finding for finding in found):
                                    missed.append(f"{type_label} {key}")
    assert missed == []
    assert mutations > 200, mutations


def test_every_misspelt_attribute_reference_of_the_repository_is_caught(
    checker: ModuleType,
    provider_schema: dict[str, Any],
    repository_modules: list[dict[str, dict[str, Any]]],
) -> None:
    # GIVEN each `aws_x.name.attr` reference in the repository's expressions
    missed, mutations = [], 0
    for module in repository_modules:
        for site, key in list(_string_sites(module)):
            original = site[key]
            for match in _ATTRIBUTE.finditer(original):
                # WHEN that one attribute is misspelt
                mutations += 1
                site[key] = f"{original[: match.end()]}_x{original[match.end() :]}"
                found = _findings(checker, provider_schema, module)
                site[key] = original
                # THEN the check names it
                if not any(f"no attribute '{match.group(2)}_x'" in text for text in found):
                    missed.append(match.group(0))
    assert missed == []
    assert mutations > 80, mutations


CHILD = {
    "variables.tf": 'variable "name" {\n  type = string\n}\n'
    + 'variable "tags" {\n  default = {}\n}\n',
    "outputs.tf": 'output "arn" {\n  value = "arn:${var.name}"\n}\n',
}
CALL = 'module "child" {\n  source = "./modules/child"\n  name   = "x"\n}\n'
BROKEN_CALLS = {
    "unknown module argument": (
        CALL.replace('  name   = "x"\n', '  name   = "x"\n  tagz   = {}\n'),
        "main.tf: module.child: the module has no variable 'tagz' (did you mean 'tags'?)",
    ),
    "required module variable not given": (
        CALL.replace('  name   = "x"\n', ""),
        "main.tf: module.child: required variable 'name' is not given",
    ),
    "unknown module output": (
        CALL + 'output "o" {\n  value = module.child.id\n}\n',
        "main.tf: output.o: module.child has no output 'id'",
    ),
    "undeclared module": (
        CALL + 'output "o" {\n  value = module.other.arn\n}\n',
        "main.tf: output.o: reference to module.other, which this module does not call",
    ),
    "module source without .tf files": (
        CALL.replace("./modules/child", "./modules/missing"),
        "main.tf: module.child: ./modules/missing holds no .tf files",
    ),
}


def _with_child(directory: Path, main: str) -> None:
    (directory / "modules" / "child").mkdir(parents=True)
    for name, text in CHILD.items():
        (directory / "modules" / "child" / name).write_text(text, encoding="utf-8")
    (directory / "main.tf").write_text(main, encoding="utf-8")


def test_calls_of_local_modules_that_validate_accepts_pass(
    checker: ModuleType, provider_schema: dict[str, Any], tmp_path: Path
) -> None:
    # GIVEN a local module called once plainly and once per key, and its outputs read
    many = CALL.replace('"child"', '"many"').replace(
        'name   = "x"', "for_each = toset([])\n  name = each.key"
    )
    _with_child(
        tmp_path,
        f'{CALL}{many}output "o" {{\n  value = [module.child.arn, module.many["a"].arn]\n}}\n',
    )

    # WHEN checking the tree
    report = checker.check_tree(tmp_path, provider_schema)

    # THEN nothing is reported
    assert [str(finding) for finding in report.findings] == []
    assert report.modules == 2


@pytest.mark.parametrize("case", sorted(BROKEN_CALLS))
def test_a_broken_module_call_fails_naming_the_problem(
    checker: ModuleType, provider_schema: dict[str, Any], tmp_path: Path, case: str
) -> None:
    # GIVEN a call of a local module with one deliberate mistake
    main, expected = BROKEN_CALLS[case]
    _with_child(tmp_path, main)

    # WHEN checking the tree
    report = checker.check_tree(tmp_path, provider_schema)

    # THEN exactly that mistake is reported
    assert [str(finding) for finding in report.findings] == [expected]
