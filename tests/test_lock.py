"""The lock files in requirements/ agree with pyproject.toml (`make lock` fixes a mismatch)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "sagemaker-batch-gitops (pyproject.toml)"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)")


@dataclass(frozen=True)
class Pin:
    version: str
    hashes: int
    wanted_by: frozenset[str]


def read_lock(path: Path) -> dict[str, Pin]:
    """Pins of a `uv pip compile` output: version, hash count and the `# via` sources."""
    pins: dict[str, Pin] = {}
    blocks = re.split(r"\n(?=[A-Za-z0-9])", path.read_text(encoding="utf-8"))
    for block in blocks:
        match = _PIN.match(block)
        if not match:
            continue
        annotation = block.partition("# via")[2]  # " name" or "\n    #   name\n    #   name"
        via = [line.strip(" #") for line in annotation.splitlines() if line.strip(" #")]
        pins[canonicalize_name(match.group(1))] = Pin(
            match.group(2), block.count("--hash=sha256:"), frozenset(v.strip() for v in via)
        )
    return pins


def wanted(requirements: list[str]) -> dict[str, Requirement]:
    parsed = [Requirement(text) for text in requirements]
    return {canonicalize_name(req.name): req for req in parsed}


PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
RUNTIME = wanted(PYPROJECT["dependencies"])
DEV = {**RUNTIME, **wanted(PYPROJECT["optional-dependencies"]["dev"])}
EXTRAS = PYPROJECT["optional-dependencies"]
LOCAL = {**RUNTIME, **wanted(EXTRAS["local-xgboost"] + EXTRAS["local-toolkit"])}


@pytest.mark.parametrize(
    ("lock", "direct"),
    [("runtime.txt", RUNTIME), ("dev.txt", DEV), ("local.txt", LOCAL)],
    ids=["runtime", "dev", "local"],
)
def test_lock_holds_exactly_pyprojects_dependencies(
    lock: str, direct: dict[str, Requirement]
) -> None:
    # GIVEN a lock file and the dependencies pyproject.toml declares for it
    pins = read_lock(ROOT / "requirements" / lock)

    # WHEN we look at what the lock says the project itself asked for
    from_project = {name for name, pin in pins.items() if PROJECT in pin.wanted_by}

    # THEN it is the same set, every pin satisfies pyproject's range, and every pin has hashes
    assert from_project == set(direct), f"requirements/{lock} is stale: run `make lock`"
    outside = {n: p.version for n, p in pins.items() if n in direct and
               not direct[n].specifier.contains(p.version, prereleases=True)}  # fmt: skip
    assert outside == {}, f"requirements/{lock} pins outside pyproject's ranges: run `make lock`"
    assert [name for name, pin in pins.items() if pin.hashes == 0] == []


@pytest.mark.parametrize("lock", ["runtime.txt", "local.txt"])
def test_runtime_packages_are_the_ones_the_tests_ran_with(lock: str) -> None:
    # GIVEN the runtime lock (or the local runner's, which adds its serving packages) and dev's
    runtime = read_lock(ROOT / "requirements" / lock)
    dev = read_lock(ROOT / "requirements" / "dev.txt")

    # THEN every pin is in the dev lock at the same version
    assert {n: p.version for n, p in runtime.items() if dev.get(n, p).version != p.version} == {}
    assert set(runtime) <= set(dev)


@pytest.mark.parametrize("name", ["checkov", "uv", "awscli", "copier"])
def test_tool_locks_follow_their_inputs(name: str) -> None:
    # GIVEN requirements/<tool>.in (the one pinned tool) and its lock
    requirement = Requirement((ROOT / "requirements" / f"{name}.in").read_text().strip())
    pins = read_lock(ROOT / "requirements" / f"{name}.txt")

    # THEN the lock pins that tool inside the requested range
    pin = pins[canonicalize_name(requirement.name)]
    assert requirement.specifier.contains(pin.version), f"run `make lock` ({name})"
    assert all(p.hashes for p in pins.values())
