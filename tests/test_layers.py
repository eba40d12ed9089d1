"""Each layer imports only what stands below it, and every package of the repository is a layer.

    errors < utils < promotion < pipelines < build.py     (the product)
    approval_trigger                                       (the Lambda: the standard library, boto3)
    testbed                                                (test support: the embedded AWS)
    demo, bench, scripts, tests                            (what runs the product and the testbed)

pipelines/steps/ imports nothing of ours: its scripts run standalone in the processing container.
Nothing imports demo but the demo itself and its tests; nothing but tests imports tests.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PRODUCT = {"errors", "utils", "promotion", "pipelines", "build"}
# Each layer: its files (a top-level module, a package, or a folder below one) and what it may
# import of ours, itself included.
LAYERS: dict[str, tuple[str, set[str]]] = {
    "errors": ("errors.py", set()),
    "utils": ("utils.py", {"errors"}),
    "promotion": ("promotion", {"errors", "utils", "promotion"}),
    "pipelines": ("pipelines", {"errors", "utils", "promotion", "pipelines"}),
    "pipelines/steps": ("pipelines/steps", set()),
    "build": ("build.py", PRODUCT),
    "approval_trigger": ("approval_trigger", set()),  # its own modules are imported relatively
    "testbed": ("testbed", (PRODUCT - {"build"}) | {"testbed"}),
    "demo": ("demo", PRODUCT | {"testbed", "demo"}),
    "bench": ("bench", PRODUCT | {"testbed", "approval_trigger", "bench"}),
    "scripts": ("scripts", PRODUCT | {"testbed", "scripts"}),
    "tests": ("tests", PRODUCT | {"testbed", "approval_trigger", "bench", "scripts", "tests"}),
    "tests of the demo": ("tests/demo", PRODUCT | {"testbed", "demo", "tests"}),
    "tests of the rehearsal": ("tests/rehearsal", PRODUCT | {"testbed", "demo", "tests"}),
}
OURS = {path.split("/")[0].removesuffix(".py") for path, _ in LAYERS.values()}
# Folders that hold no code of ours: environments, caches, what the commands write.
NOT_CODE = {"build", "demo-output", "node_modules", "__pycache__"}


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
    """The layer's Python files; a folder's own layers (tests/demo in tests) are left to them."""
    root = REPO_ROOT / LAYERS[layer][0]
    if root.is_file():
        return [root]
    inner = [
        REPO_ROOT / path
        for other, (path, _) in LAYERS.items()
        if other != layer and path.startswith(LAYERS[layer][0] + "/")
    ]
    return sorted(
        path for path in root.rglob("*.py") if not any(path.is_relative_to(d) for d in inner)
    )


def top_level_code() -> set[str]:
    """Every top-level module (`name.py`) and folder holding Python code of the repository."""
    folders = {
        folder.name
        for folder in REPO_ROOT.iterdir()
        if folder.is_dir() and not folder.name.startswith(".") and folder.name not in NOT_CODE
        and any(folder.rglob("*.py"))
    }  # fmt: skip
    return folders | {path.name for path in REPO_ROOT.glob("*.py")}


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_layer_imports_only_what_stands_below_it(layer: str) -> None:
    # GIVEN the layer's files
    files = layer_files(layer)
    assert files, f"no files for layer {layer}"
    # WHEN their imports are read
    allowed = LAYERS[layer][1]
    wrong = {
        f"{path.relative_to(REPO_ROOT)} imports {name}"
        for path in files
        for name in imported_top_levels(path) - allowed
    }
    # THEN none reaches up (or into demo, or into tests)
    assert not wrong, sorted(wrong)


def test_every_package_is_a_layer() -> None:
    # GIVEN the repository's top-level modules and packages
    code = top_level_code()
    # THEN each is a layer of this test
    layered = {path.split("/")[0] for path, _ in LAYERS.values()}
    assert code - layered == set(), f"add {sorted(code - layered)} to LAYERS, with its imports"


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    # GIVEN a file that imports from a higher layer inside a function
    path = tmp_path / "x.py"
    path.write_text("def f():\n    import pipelines.definition.stage_build\n", encoding="utf-8")
    # THEN it is found
    assert imported_top_levels(path) == {"pipelines"}


def test_a_step_script_may_not_import_the_repository(tmp_path: Path) -> None:
    # GIVEN a step script that imports the pipeline's own package
    path = tmp_path / "x.py"
    path.write_text("from pipelines.steps import partitions\n", encoding="utf-8")
    # THEN the steps' rule refuses it
    assert imported_top_levels(path) - LAYERS["pipelines/steps"][1] == {"pipelines"}
