"""docs/terraform.md's Terraform tables are generated from the .tf files and must be current."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

README_SAMPLE = """# Title

Prose the generator must keep.

<!-- BEGIN_TF_DOCS -->
## Inputs
stale
<!-- END_TF_DOCS -->

More prose.
"""


def test_terraform_page_tables_are_current(
    repo_root: Path, load_script: Callable[[str], ModuleType]
) -> None:
    # GIVEN docs/terraform.md (the default page) and the tables the .tf files give today
    docs = load_script("tf_docs")

    # WHEN checking
    code = docs.main(["--check"])

    # THEN the page is current (else: run `make docs`)
    assert code == 0, "docs/terraform.md Terraform tables are stale: run `make docs`"


def test_check_fails_on_a_stale_readme_and_write_fixes_only_the_marked_part(
    tmp_path: Path, repo_root: Path, load_script: Callable[[str], ModuleType]
) -> None:
    # GIVEN a README whose marked part is stale
    docs = load_script("tf_docs")
    readme = tmp_path / "README.md"
    readme.write_text(README_SAMPLE, encoding="utf-8")
    arguments = ["--page", str(readme), "--module-dir", str(repo_root)]

    # WHEN checking, writing, then checking again
    stale = docs.main(["--check", *arguments])
    written = docs.main(["--write", *arguments])
    fresh = docs.main(["--check", *arguments])

    # THEN the first check fails, the second passes, and the prose around the markers is kept
    assert (stale, written, fresh) == (1, 0, 0)
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("# Title\n\nProse the generator must keep.\n\n<!-- BEGIN_TF_DOCS -->\n")
    assert text.endswith("<!-- END_TF_DOCS -->\n\nMore prose.\n")
    assert "stale" not in text


def test_tables_list_every_variable_and_output(
    stage_module: dict[str, Any], repo_root: Path, load_script: Callable[[str], ModuleType]
) -> None:
    tables = load_script("tf_docs").render(repo_root)
    for name in stage_module["variable"]:
        assert f"[{name}](#input_{name})" in tables
    for name in stage_module["output"]:
        assert f"[{name}](#output_{name})" in tables
    assert "| aws | `>= 5.100, < 7` |" in tables


def test_missing_markers_is_an_error(
    tmp_path: Path, repo_root: Path, load_script: Callable[[str], ModuleType]
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# No markers\n", encoding="utf-8")
    docs = load_script("tf_docs")
    assert docs.main(["--check", "--page", str(readme), "--module-dir", str(repo_root)]) == 2
