"""A model's repository in a fleet made from this template: what its team owns, and upgrades.

    python3 scripts/fleet.py owned                 the paths a model's team owns (docs/fleet.md)
    python3 scripts/fleet.py check-owned REV       changes since REV outside them (exit 1)
    python3 scripts/fleet.py conflicts             files an update left conflicted (exit 1)
    python3 scripts/fleet.py rename-key OLD NEW    a stage key renamed in both stage files
    python3 scripts/fleet.py pr-body FROM TO       the update pull request's description
    python3 scripts/fleet.py init-inputs ...       the model's own inputs (Copier's task, once)
    python3 scripts/fleet.py migrate-to-pinned     a v1 whole copy to the pinned layout (once)

Run from the model repository (the current directory), with this script from the template's
checkout (.template/ at the pin, or a clone). Standard library only, the machine's python3.
Each failure is one line; exit 1, or 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
STAGE_FILES = ("pre-prod-config.tfvars.json", "prod-config.tfvars.json")
# The model's own inputs: what its smoke run scores and the rows its comparison scores. Never the
# template's (copier.yml excludes them): `init-inputs` writes them once in a new repository.
INPUTS = ("inputs/smoke-input.csv", "inputs/evaluation-rows.csv")
# What a model's team owns and edits; every other file of its repository is the template's
# (template/: the pin, thin callers, its checks), rewritten only by `copier update`.
OWNED = (*STAGE_FILES, "bootstrap/settings.tfvars.json", *INPUTS, "README.md")
ANSWERS = ".copier-answers.yml"
V1_SMOKE_INPUT = "demo/smoke-input.csv"  # what a v1.0.0 whole copy's deploys scored
ID_COLUMN = "record_id"  # the stage files' id_column (template/pre-prod-config.tfvars.json.jinja)
PLACEHOLDER_ROWS = 5
# Copier's inline conflict markers (`copier update --conflict inline`), and git's.
CONFLICT = re.compile(r"^(<<<<<<< |>>>>>>> )", re.M)


class FleetError(Exception):
    """What is wrong, in one line."""


def _git(*args: str, cwd: Path = REPO_ROOT) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["failed"])[0]
        raise FleetError(f"git {' '.join(args)}: {first}")
    return done.stdout


def outside_owned(paths: Sequence[str]) -> list[str]:
    """The paths a model's team does not own."""
    return sorted(path for path in paths if path not in OWNED)


def repository_files(root: Path, *patterns: str) -> list[str]:
    """The repository's own files, tracked and new, never ignored ones (demo-output/, build/),
    matching `patterns` (git pathspecs) when given; each once, sorted."""
    # -z: names as they are (git quotes unusual ones otherwise)
    options = ("-z", "--cached", "--others", "--exclude-standard")
    listed = _git("ls-files", *options, "--", *patterns, cwd=root)
    # A file Copier left conflicted is unmerged in the index: listed once per stage.
    return sorted(set(filter(None, listed.split("\0"))))


def conflicted(root: Path) -> list[str]:
    """Tracked or new files holding conflict markers, and Copier's `.rej` files."""
    found = []
    for name in repository_files(root):
        path = root / name
        if name.endswith(".rej"):
            found.append(name)
        elif path.is_file() and path.stat().st_size < 5_000_000:
            try:
                text = path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            if CONFLICT.search(text):
                found.append(name)
    return sorted(found)


def rename_key(old: str, new: str, root: Path) -> list[str]:
    """Rename a stage key in both stage files, keeping every other line; idempotent."""
    changed = []
    for name in STAGE_FILES:
        path = root / name
        text = path.read_text(encoding="utf-8")
        renamed, count = re.subn(rf'^(\s*)"{re.escape(old)}"(\s*:)', rf'\1"{new}"\2', text,
                                 flags=re.M)  # fmt: skip
        if count:
            document = json.loads(renamed)  # still valid, and not holding the key twice
            if list(document).count(new) != 1 or renamed.count(f'"{new}"') != 1:
                raise FleetError(f"{name} holds both {old} and {new}: merge them by hand")
            # Whole or not at all: a kill mid-write leaves the old file, and a re-run finishes.
            partial = path.with_name(f".{path.name}.renaming")
            partial.write_text(renamed, encoding="utf-8")
            os.replace(partial, path)
            changed.append(name)
    return changed


def changelog_between(old: str, new: str, root: Path = REPO_ROOT) -> str:
    """The CHANGELOG.md sections of the versions after `old`, up to and including `new`."""
    text = (root / "CHANGELOG.md").read_text(encoding="utf-8")
    sections = re.split(r"^(?=## )", text, flags=re.M)
    kept = []
    for section in sections:
        heading = re.match(r"## \[?v?(\d+\.\d+\.\d+)", section)
        if heading and _version(old) < _version(heading.group(1)) <= _version(new):
            kept.append(section.strip())
    return "\n\n".join(kept)


def _version(text: str) -> tuple[int, ...]:
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", text)
    if not match:
        raise FleetError(f"{text!r} is not a version (vMAJOR.MINOR.PATCH)")
    return tuple(int(part) for part in match.groups())


def pr_body(old: str, new: str, root: Path, changelog_root: Path = REPO_ROOT) -> str:
    """The update pull request's description: versions, conflicts in `root`, the changelog of
    the template's checkout (`changelog_root`, at the new version)."""
    lines = [f"Template update {old} -> {new} (`copier update`: the pin and the template's "
             "files; your answers and files kept).", ""]  # fmt: skip
    files = conflicted(root)
    if files:
        lines += ["**Conflicts to resolve** (the `conflicts` check fails until they are):", ""]
        lines += [f"- `{name}`" for name in files] + [""]
    changes = changelog_between(old, new, changelog_root) or "(no changelog entry)"
    lines += ["## What changed", "", changes]
    return "\n".join(lines) + "\n"


def init_inputs(columns: str, smoke_input: str, evaluation_rows: str, root: Path) -> list[str]:
    """Write the model's inputs that do not exist yet; return what was done, a line each.

    Each is a copy of the file the team named (an absolute path), else made from the feature
    columns: the smoke input with rows of zeros to replace (enough for the pipeline to run end to
    end), the evaluation rows a header only (nothing is compared until it holds real rows).
    """
    names = columns.split()
    if any("," in name for name in names) or len(set(names)) != len(names):
        raise FleetError(f"feature columns {columns!r}: names separated by spaces, each once")
    for answer, source in (("smoke_input", smoke_input), ("evaluation_rows", evaluation_rows)):
        if source and not Path(source).is_file():
            raise FleetError(
                f"{answer} {source} is not a file: answer the absolute path of a CSV, "
                "or nothing to have it made from the feature columns"
            )
    header = [ID_COLUMN, *names]
    zeros = [[str(row), *("0" for _ in names)] for row in range(1, PLACEHOLDER_ROWS + 1)]
    written = []
    for relative, source, rows in ((INPUTS[0], smoke_input, zeros),
                                   (INPUTS[1], evaluation_rows, [])):  # fmt: skip
        target = root / relative
        if target.exists():
            continue
        if not source and not names:
            raise FleetError(f"{relative}: give the model's feature columns or a file to copy")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.writing")
        if source:
            partial.write_bytes(Path(source).read_bytes())
            done = f"copied {source} to {relative}"
        else:
            partial.write_text("\n".join(",".join(row) for row in [header, *rows]) + "\n")
            done = f"wrote {relative} from the feature columns: put rows of your model's data in it"
        os.replace(partial, target)  # whole or not at all
        written.append(done)
    return written


def _answers(root: Path) -> dict[str, str]:
    """The top-level `key: value` lines of Copier's answers file (plain scalars, as it writes)."""
    path = root / ANSWERS
    if not path.is_file():
        raise FleetError(f"no {ANSWERS} here: run this in a model repository made with Copier")
    found = re.findall(r"^([A-Za-z_]\w*): *(.*?) *$", path.read_text(encoding="utf-8"), re.M)
    return {key: value.strip("'\"") for key, value in found}


def _github_repository(source: str) -> str | None:
    """OWNER/REPO of a template source Copier recorded (gh:O/R, https://github.com/O/R[.git])."""
    match = re.fullmatch(r"(?:gh:|https://github\.com/)([\w.-]+/[\w.-]+?)(?:\.git)?/?", source)
    return match.group(1) if match else None


def inherited(template: Path, version: str) -> set[str]:
    """The paths a whole copy made from `version` of the template holds of it (a `.jinja` file
    rendered to its name)."""
    listed = _git("ls-tree", "-r", "-z", "--name-only", version, cwd=template).split("\0")
    return {name.removesuffix(".jinja") for name in listed if name}


def migrate_to_pinned(
    root: Path, copier: str, to: str | None, repository: str | None, columns: str
) -> list[str]:
    """Move a whole-copy repository (v1.0.0) to the pinned layout; what was done, a line each.

    The team's files stay (v1's smoke input, demo/smoke-input.csv, becomes inputs/ when the team
    edited it); the files the old version copied are removed; `copier recopy` of the new version
    writes template/'s files and the pin. Refused before any change when the team's files hold
    uncommitted edits; a re-run finishes an interrupted one, and does nothing after a finished one.
    """
    answers = _answers(root)
    old, source = answers.get("_commit", ""), answers.get("_src_path", "")
    if not old or not source:
        raise FleetError(f"{ANSWERS} lacks _commit or _src_path: restore it from git history")
    try:
        _git("rev-parse", "--verify", "--quiet", f"{old}^{{commit}}", cwd=REPO_ROOT)
    except FleetError:
        raise FleetError(
            f"{REPO_ROOT} does not hold {old}, the version {ANSWERS} names: run "
            "this from a full clone of the template (git fetch --tags)"
        ) from None
    if "_subdirectory:" in _git("show", f"{old}:copier.yml", cwd=REPO_ROOT):
        return [f"already on the pinned layout ({old}): nothing to do"]
    repository = repository or _github_repository(source)
    if not repository:
        raise FleetError(f"{source} is not a GitHub repository: pass --template-repository O/R")
    copies = inherited(REPO_ROOT, old) - set(OWNED) - {ANSWERS}
    tracked = set(repository_files(root))
    dirty = [line[3:] for line in _git("status", "--porcelain", cwd=root).splitlines()
             if line[3:] not in copies]  # fmt: skip
    if dirty:
        raise FleetError(
            f"uncommitted changes to {', '.join(sorted(dirty)[:5])}: commit them first"
        )
    done = []
    smoke, old_smoke = root / INPUTS[0], root / V1_SMOKE_INPUT
    if not smoke.exists() and old_smoke.is_file():
        theirs = _git("rev-parse", f"{old}:{V1_SMOKE_INPUT}", cwd=REPO_ROOT).strip()
        if _git("hash-object", str(old_smoke), cwd=root).strip() != theirs:
            smoke.parent.mkdir(exist_ok=True)
            os.replace(old_smoke, smoke)
            done.append(f"kept your smoke input: {V1_SMOKE_INPUT} is now {INPUTS[0]}")
    if smoke.exists() and not columns:
        header = smoke.read_text(encoding="utf-8").splitlines()[0].split(",")
        columns = " ".join(name.strip() for name in header if name.strip() != ID_COLUMN)
    if not columns:
        raise FleetError(f"no {INPUTS[0]} and {V1_SMOKE_INPUT} is the template's: pass "
                         "--feature-columns 'a b c' (the model's columns, in order)")  # fmt: skip
    removed = sorted(copies & tracked)
    for start in range(0, len(removed), 200):
        _git("rm", "-q", "--ignore-unmatch", "--", *removed[start : start + 200], cwd=root)
    data = {"template_repository": repository, "feature_columns": columns}
    command = [copier, "recopy", "--trust", "--defaults", "--overwrite", "--quiet",
               *(f"--data={key}={value}" for key, value in data.items()),
               *(["--vcs-ref", to] if to else []), "."]  # fmt: skip
    copied = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    if copied.returncode != 0:
        last = (copied.stderr.strip().splitlines() or ["failed"])[-1]
        raise FleetError(f"copier recopy: {last} (fix it and run the migration again)")
    kept = sorted(tracked - copies - set(OWNED) - {ANSWERS})
    owned = ", ".join(name for name in OWNED if (root / name).exists())
    return [f"removed {len(removed)} files copied from {old}", *done,
            f"kept the team's files: {owned}",
            *([f"kept files the team added: {', '.join(kept)}"] if kept else []),
            f"pinned {_answers(root).get('_commit', '?')}: review `git status`, run "
            "`make setup check`, commit"]  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; one line on failure."""
    parser = argparse.ArgumentParser(prog="scripts/fleet.py", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("owned")
    check = commands.add_parser("check-owned")
    check.add_argument("revision")
    commands.add_parser("conflicts")
    rename = commands.add_parser("rename-key")
    rename.add_argument("old")
    rename.add_argument("new")
    body = commands.add_parser("pr-body")
    body.add_argument("old")
    body.add_argument("new")
    inputs = commands.add_parser("init-inputs")
    inputs.add_argument("--columns", default="", help="feature columns, separated by spaces")
    inputs.add_argument("--smoke-input", default="", help="a file to copy as the smoke input")
    inputs.add_argument("--evaluation-rows", default="", help="a file to copy as the rows")
    migrate = commands.add_parser("migrate-to-pinned")
    migrate.add_argument("--to", help="the template version to pin (default: the newest tag)")
    migrate.add_argument("--copier", default="copier", help="the copier command")
    migrate.add_argument("--template-repository", help="OWNER/REPO (default: from _src_path)")
    migrate.add_argument("--feature-columns", default="", help="the model's columns, by spaces")
    args = parser.parse_args(argv)
    here = Path.cwd()  # the model repository; this script may run from the template's checkout
    try:
        if args.command == "owned":
            print("\n".join(OWNED))
        elif args.command == "check-owned":
            changed = _git("diff", "--name-only", args.revision, "HEAD", cwd=here).split()
            foreign = outside_owned(changed)
            if foreign:
                raise FleetError(f"changed outside the team's files: {', '.join(foreign)}")
        elif args.command == "conflicts":
            files = conflicted(here)
            if files:
                raise FleetError(f"unresolved template-update conflicts in: {', '.join(files)}")
        elif args.command == "rename-key":
            changed = rename_key(args.old, args.new, here)
            print(f"renamed {args.old} to {args.new} in {', '.join(changed) or 'nothing'}")
        elif args.command == "init-inputs":
            for line in init_inputs(args.columns, args.smoke_input, args.evaluation_rows, here):
                print(line)
        elif args.command == "migrate-to-pinned":
            for line in migrate_to_pinned(
                here, args.copier, args.to, args.template_repository, args.feature_columns
            ):
                print(line)
        else:
            sys.stdout.write(pr_body(args.old, args.new, here))
    except (FleetError, OSError, ValueError) as error:
        print(f"fleet: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
