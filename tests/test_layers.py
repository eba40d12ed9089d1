"""Each layer imports only what stands below it: errors, utils < promotion < pipelines < build."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
OURS = {"errors", "utils", "promotion", "pipelines", "build", "demo", "bench", "approval_trigger"}
# What each layer may import of ours (itself included).
ALLOWED = {
    "errors": set(),
    "utils": {"errors"},
    "promotion": {"errors", "utils", "promotion"},
    "pipelines": {"errors", "utils", "promotion", "pipelines"},
    "build": {"errors", "utils", "promotion", "pipelines"},
}


def imported_top_levels(path: Path) -> set[str]:
    """The top-level names of our packages that `path` imports, at any depth of the file."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names & OURS


def layer_files(layer: str) -> list[Path]:
    single = REPO_ROOT / f"{layer}.py"
    return [single] if single.exists() else sorted((REPO_ROOT / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_what_stands_below_it(layer: str) -> None:
    # GIVEN the layer's files
    files = layer_files(layer)
    assert files, f"no files for layer {layer}"
    # WHEN their imports are read
    wrong = {
        f"{path.relative_to(REPO_ROOT)} imports {name}"
        for path in files
        for name in imported_top_levels(path) - ALLOWED[layer]
    }
    # THEN none reaches up
    assert not wrong, sorted(wrong)


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    # GIVEN a file that imports from a higher layer inside a function
    path = tmp_path / "x.py"
    path.write_text("def f():\n    import pipelines.definition.stage_build\n", encoding="utf-8")
    # THEN it is found
    assert imported_top_levels(path) == {"pipelines"}
