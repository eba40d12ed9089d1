"""A model repository at the pinned layout (template/, docs/fleet.md), end to end with the real
Copier, git, make and Terraform: made from a tagged template, its own checks run as its CI runs
them (timed), bumped to a newer tag, and a v1.0.0 whole copy migrated to it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import copier
import pytest
import yaml

from testbed.terraform import setup, working_copy
from tests.conftest import extract_v1_0_0

from .test_template import ANSWERS, commit_all, git, run

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_REPOSITORY = "acme/sagemaker-batch-gitops"
# What `copier copy` writes at the pinned layout: the team's files, the template's thin files.
NEW_LAYOUT = {
    ".copier-answers.yml", ".github/workflows/ci.yml", ".github/workflows/deploy.yml",
    ".github/workflows/template-update.yml",
    ".gitignore", ".terraform.lock.hcl", "Makefile", "README.md", "bootstrap/settings.tfvars.json",
    "inputs/evaluation-rows.csv", "inputs/smoke-input.csv", "main.tf", "moved.tf",
    "pre-prod-config.tfvars.json", "prod-config.tfvars.json", "tests/deployment.tfvars.json",
    "tests/pipeline-definition.json", "tests/stage.tftest.hcl",
}  # fmt: skip
CHECKS_OK = (
    "ok    stage files match the schema",
    "ok    inputs name the model's columns",
    "ok    pipeline definitions render",
    "ok    deploy.yml calls the template at the pin",
)


def tag(template: Path, version: str) -> str:
    commit_all(template, version)
    git(template, "tag", version)
    return git(template, "rev-parse", "HEAD").strip()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """The template as a git repository tagged v1.0.0 (the whole-copy layout) and v1.1.0 (this
    working tree); GitHub's URL of it redirected to it (git's insteadOf), Terraform with the
    provider mirror."""
    home = tmp_path_factory.mktemp("fleet")
    template = home / "template"
    template.mkdir()
    git(template, "init", "-q", "-b", "main")
    extract_v1_0_0(template)
    tag(template, "v1.0.0")
    git(template, "rm", "-q", "-r", ".")
    working_copy(REPO_ROOT, template)
    tag(template, "v1.1.0")
    gitconfig = home / "gitconfig"
    gitconfig.write_text(f'[url "file://{template}"]\n\tinsteadOf = https://github.com/'
                         f"{TEMPLATE_REPOSITORY}.git\n")  # fmt: skip
    terraform = setup(home / "terraform")
    yield {"home": home, "template": template, "gitconfig": gitconfig,
           "terraform_home": terraform.home}  # fmt: skip


def make_env(world: dict[str, Path]) -> dict[str, str]:
    env = setup(world["terraform_home"]).environment()
    env["GIT_CONFIG_GLOBAL"] = str(world["gitconfig"])
    return env


def make(
    repository: Path, world: dict[str, Path], *targets: str
) -> subprocess.CompletedProcess[str]:
    """The repository's make, with this environment's Python (the runtime lock installed)."""
    command = ["make", *targets, f"PY={sys.executable}"]
    return subprocess.run(command, cwd=repository, env=make_env(world), capture_output=True,
                          text=True, check=False)  # fmt: skip


def copy(world: dict[str, Path], destination: Path, version: str) -> Path:
    copier.run_copy(str(world["template"]), str(destination), vcs_ref=version, unsafe=True,
                    data={**ANSWERS, "template_repository": TEMPLATE_REPOSITORY},
                    defaults=True, quiet=True)  # fmt: skip
    git(destination, "init", "-q", "-b", "main")
    commit_all(destination, "made from the template")
    return destination


def files(repository: Path) -> set[str]:
    return set(git(repository, "ls-files").splitlines())


def assert_terraform_part(done: subprocess.CompletedProcess[str], repository: Path) -> None:
    """terraform init fetched the stage module by ref at the pin (through git); validate and the
    root's terraform test passed."""
    pin = yaml.safe_load((repository / ".copier-answers.yml").read_text())["_commit"]
    module = repository / ".terraform/modules/stage"
    assert git(module, "describe", "--tags", "--exact-match").strip() == pin
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    plain = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout)  # Terraform's colours
    assert "Success! 2 passed, 0 failed." in plain, plain[-3000:]


def test_a_new_repository_holds_what_its_team_owns_and_one_pin(
    world: dict[str, Path], tmp_path: Path
) -> None:
    repository = copy(world, tmp_path / "churn-batch", "v1.1.0")
    assert files(repository) == NEW_LAYOUT
    lines = sum(len((repository / name).read_text().splitlines()) for name in NEW_LAYOUT)
    print(f"\nnew model repository: {len(NEW_LAYOUT)} files, {lines} lines")
    answers = yaml.safe_load((repository / ".copier-answers.yml").read_text())
    assert answers["_commit"] == "v1.1.0"
    v1_1_0 = git(world["template"], "rev-parse", "v1.1.0").strip()
    main_tf = (repository / "main.tf").read_text()
    # By commit, as deploy.yml is called: a tag can be moved, a commit cannot.
    assert (f'source = "git::https://github.com/{TEMPLATE_REPOSITORY}.git?ref={v1_1_0}" # v1.1.0'
            in main_tf)  # fmt: skip
    caller = yaml.safe_load((repository / ".github/workflows/deploy.yml").read_text())
    (job,) = caller["jobs"].values()
    assert job["uses"] == f"{TEMPLATE_REPOSITORY}/.github/workflows/deploy.yml@{v1_1_0}"
    assert job["with"]["template-ref"] == v1_1_0
    # Its workflows as rendered pass the linters the template's pass (hash-pinned calls).
    workflows = sorted(str(path) for path in (repository / ".github/workflows").glob("*.yml"))
    tools = Path(sys.executable).parent
    offline = {k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN")}
    for command in ([str(tools / "actionlint"), "-no-color", *workflows],
                    [str(tools / "zizmor"), "--offline", "--no-progress", *workflows]):  # fmt: skip
        linted = subprocess.run(command, capture_output=True, text=True, env=offline, check=False)
        assert linted.returncode == 0, linted.stdout + linted.stderr
    # Nothing of the template's development, and no module named build, utils or errors.
    for name in ("build.py", "utils.py", "errors.py", "promotion", "pipelines", "testbed", "demo"):
        assert not (repository / name).exists(), name

    # ITS CI: `make setup` (the template at the pin into .template/, by git through GitHub's
    # URL), then `make check`, timed; with this machine's own Terraform where it has one (1.11.4
    # here: main.tf allows >= 1.10, which refuse a function call in a test's override values),
    # else the embedded one (the newest), which the migration's check below runs anyway.
    system = shutil.which("terraform")
    if system:
        version = subprocess.run([system, "version"], capture_output=True, text=True, check=True)
        print(f"\nthe model repository's make check on {version.stdout.splitlines()[0]}")
    started = time.monotonic()
    done = make(repository, world, "check", *([f"TERRAFORM={system}"] if system else []))
    seconds = time.monotonic() - started
    print(f"model repository CI (make check, the runtime already installed): {seconds:.1f} s")
    for line in CHECKS_OK:
        assert line in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    assert (repository / ".template/build.py").is_file()
    assert_terraform_part(done, repository)
    # The pinned version's commands run on the repository's files.
    helped = make(repository, world, "build", "ARGS=--help")
    assert helped.returncode == 0 and "--check-input" in helped.stdout, helped.stderr[-2000:]
    status = make(repository, world, "status", "STAGE=prod")
    assert status.returncode != 0 and "Traceback" not in status.stderr, status.stderr[-2000:]


@pytest.mark.parametrize(
    ("path", "old", "new", "message"),
    [
        ("inputs/smoke-input.csv", "monthly_charges", "charges",
         "lacks 1 of the model's 4 columns (3 feature column(s) and the id column): "
         "monthly_charges (from pre-prod-config.tfvars.json's feature_columns; if a name is "
         "misspelled there, correct it there)"),
        ("inputs/evaluation-rows.csv", "contract_months", "contract_months,tenure",
         "column 'tenure' appears 2 times"),
        (".github/workflows/deploy.yml", "skip_prod: ${{", "skip_production: ${{",
         "inputs ['skip_production'] are not declared"),
        ("prod-config.tfvars.json", '"max_payload_mb": 6', '"max_payload_mb": 600',
         "prod-config.tfvars.json"),
    ],
)  # fmt: skip
def test_its_checks_refuse_what_its_team_can_break(
    world: dict[str, Path], tmp_path: Path, path: str, old: str, new: str, message: str
) -> None:
    repository = copy(world, tmp_path / "churn-batch", "v1.1.0")
    if path == "inputs/smoke-input.csv":  # the model's columns from the stage file
        for stage in ("pre-prod", "prod"):
            stage_path = repository / f"{stage}-config.tfvars.json"
            stage_path.write_text(stage_path.read_text().replace(
                '"feature_columns": null',
                '"feature_columns": ["tenure", "monthly_charges", "contract_months"]'))  # fmt: skip
    target = repository / path
    assert old in target.read_text()
    target.write_text(target.read_text().replace(old, new, 1))
    done = make(repository, world, "check")
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert message in done.stderr
    assert "Traceback" not in done.stderr and "terraform init" not in done.stdout


def test_a_typo_in_the_smoke_inputs_header_is_blamed_on_the_smoke_input(
    world: dict[str, Path], tmp_path: Path
) -> None:
    """The stage files keep feature_columns null (build.py reads the package's metadata): the
    checks take the model's columns from the team's answer, not from the header being checked."""
    repository = copy(world, tmp_path / "churn-batch", "v1.1.0")
    smoke = repository / "inputs/smoke-input.csv"
    header, rest = smoke.read_text().split("\n", 1)
    smoke.write_text(header.replace("monthly_charges", "monthly_charge") + "\n" + rest)
    done = make(repository, world, "check")
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    expected = (f"{smoke} lacks 1 of the model's 4 columns (3 feature column(s) and the id "
                "column): monthly_charges (from "
                ".copier-answers.yml's feature_columns; if the model's columns changed, name "
                f"them in feature_columns of both stage files); fix {smoke}")  # fmt: skip
    assert expected in done.stderr, done.stderr
    assert "evaluation-rows.csv" not in done.stderr, done.stderr


def test_a_bump_changes_the_pin_and_the_templates_files_only(
    world: dict[str, Path], tmp_path: Path
) -> None:
    template = world["template"]
    repository = copy(world, tmp_path / "churn-batch", "v1.1.0")
    # The team's edits: a stage value, its README, its rows.
    prod = repository / "prod-config.tfvars.json"
    prod.write_text(prod.read_text().replace('"alarm_email": null',
                                             '"alarm_email": "ml-oncall@example.com"'))  # fmt: skip
    (repository / "README.md").write_text("# Churn\n\nOur notes.\n")
    own_rows = "record_id,tenure,monthly_charges,contract_months\n1,14,70.35,12\n"
    (repository / "inputs/smoke-input.csv").write_text(own_rows)
    commit_all(repository, "our values")
    before = {name: (repository / name).read_text() for name in NEW_LAYOUT}

    # v1.2.0: a change to a template-owned file of the model repositories.
    makefile = template / "template/Makefile.jinja"
    makefile.write_text(makefile.read_text() + "# A line new in 1.2.0.\n")
    changelog = template / "CHANGELOG.md"
    changelog.write_text(changelog.read_text().replace("## 1.0.0", "## 1.2.0\n\n- x\n\n## 1.0.0"))
    v1_2_0 = tag(template, "v1.2.0")
    try:  # by hand as template-update.yml runs it (docs/fleet.md), with this environment's Copier
        copier_cli = Path(sys.executable).parent / "copier"
        updated = make(repository, world, "update", f"COPIER={copier_cli}")
    finally:  # the other tests copy v1.1.0 and migrate to the newest tag: v1.2.0 goes
        git(template, "tag", "-d", "v1.2.0")
        git(template, "reset", "-q", "--hard", "v1.1.0")
    assert updated.returncode == 0, updated.stdout[-3000:] + updated.stderr[-3000:]
    # The inputs task does not run on an update: nothing claims a file written.
    assert "inputs/" not in updated.stdout + updated.stderr
    changed = {name for name in NEW_LAYOUT if (repository / name).read_text() != before[name]}
    assert changed == {".copier-answers.yml", "main.tf", ".github/workflows/deploy.yml",
                       "Makefile"}  # fmt: skip
    assert files(repository) | set(git(repository, "ls-files", "-o", "--exclude-standard")
                                   .splitlines()) == NEW_LAYOUT  # fmt: skip
    assert f'?ref={v1_2_0}" # v1.2.0' in (repository / "main.tf").read_text()
    assert (
        f"deploy.yml@{v1_2_0} # v1.2.0" in (repository / ".github/workflows/deploy.yml").read_text()
    )
    assert (repository / "Makefile").read_text().endswith("# A line new in 1.2.0.\n")
    assert run(repository, "git", "diff", "--quiet", "--", "inputs", "README.md",
               "prod-config.tfvars.json").returncode == 0  # fmt: skip


def test_a_v1_whole_copy_moves_to_the_pinned_layout(world: dict[str, Path], tmp_path: Path) -> None:
    template = world["template"]
    repository = copy(world, tmp_path / "churn-batch", "v1.0.0")
    assert len(files(repository)) > 250 and (repository / "build.py").is_file()
    prod = repository / "prod-config.tfvars.json"
    text = prod.read_text()
    prod.write_text(text.replace('"transform_instance_type": "ml.m5.xlarge"',
                                 '"transform_instance_type": "ml.c5.2xlarge"'))  # fmt: skip
    (repository / "docs/our-runbook.md").write_text("# What we do at 3 a.m.\n")
    # v1's deploys scored demo/smoke-input.csv: the team had put its model's rows there.
    own_rows = "record_id,tenure,monthly_charges\n1,14,70.35\n2,3,99.9\n"
    (repository / "demo/smoke-input.csv").write_text(own_rows)
    commit_all(repository, "our values and our runbook")
    owned_before = {name: (repository / name).read_bytes()
                    for name in ("prod-config.tfvars.json", "pre-prod-config.tfvars.json",
                                 "bootstrap/settings.tfvars.json")}  # fmt: skip

    command = [sys.executable, str(template / "scripts/fleet.py"), "migrate-to-pinned",
               "--copier", str(Path(sys.executable).parent / "copier"),
               "--template-repository", TEMPLATE_REPOSITORY]  # fmt: skip
    done = subprocess.run(command, cwd=repository, capture_output=True, text=True, check=False)

    assert done.returncode == 0, done.stderr
    assert "kept files the team added: docs/our-runbook.md" in done.stdout
    assert "demo/smoke-input.csv is now inputs/smoke-input.csv" in done.stdout
    assert (repository / "inputs/smoke-input.csv").read_text() == own_rows
    assert (repository / "inputs/evaluation-rows.csv").read_text() == own_rows.split("\n")[0] + "\n"
    present = files(repository) | set(git(repository, "ls-files", "-o", "--exclude-standard")
                                      .splitlines())  # fmt: skip
    assert present == NEW_LAYOUT | {"docs/our-runbook.md"}
    assert yaml.safe_load((repository / ".copier-answers.yml").read_text())["_commit"] == "v1.1.0"
    for name, content in owned_before.items():
        assert (repository / name).read_bytes() == content, name
    assert not (repository / "build.py").exists() and not (repository / "promotion").exists()
    # Its checks pass on the migrated repository (the Python part; Terraform as above).
    checked = make(repository, world, "check")
    for line in CHECKS_OK:
        assert line in checked.stdout, checked.stdout[-3000:] + checked.stderr[-3000:]
    assert_terraform_part(checked, repository)
    # Run again, it does nothing.
    commit_all(repository, "migrated")
    again = subprocess.run(command, cwd=repository, capture_output=True, text=True, check=False)
    assert again.returncode == 0 and "nothing to do" in again.stdout, again.stderr
    assert git(repository, "status", "--porcelain") == ""


def test_a_migration_is_refused_before_any_change_without_the_models_columns_or_with_edits(
    world: dict[str, Path], tmp_path: Path
) -> None:
    repository = copy(world, tmp_path / "churn-batch", "v1.0.0")
    command = [sys.executable, str(world["template"] / "scripts/fleet.py"), "migrate-to-pinned",
               "--template-repository", TEMPLATE_REPOSITORY]  # fmt: skip
    readme = repository / "README.md"
    readme.write_text(readme.read_text() + "An edit not committed yet.\n")
    dirty = subprocess.run(command, cwd=repository, capture_output=True, text=True, check=False)
    assert dirty.returncode == 1
    assert dirty.stderr == "fleet: error: uncommitted changes to README.md: commit them first\n"
    git(repository, "checkout", "--", "README.md")
    done = subprocess.run(command, cwd=repository, capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert done.stderr.startswith("fleet: error: no inputs/smoke-input.csv and demo/smoke-input")
    assert "--feature-columns" in done.stderr and done.stderr.count("\n") == 1
    assert git(repository, "status", "--porcelain") == ""


def test_a_model_repositorys_root_is_the_templates_stage_root_but_for_the_modules_source() -> None:
    """The same root text in both places (docs/terraform.md): only where the module comes from,
    and the header comment, differ; moved.tf (the v1.0.0 addresses) is the same file."""

    def body(text: str) -> str:
        text = text[text.index("terraform {") :]
        return re.sub(r'(?m)^  source = "[^"]*"( # .*)?$', '  source = "..."', text)

    model_root = (REPO_ROOT / "template" / "main.tf.jinja").read_text(encoding="utf-8")
    stage_root = (REPO_ROOT / "stage-root" / "main.tf").read_text(encoding="utf-8")
    assert body(model_root) == body(stage_root)
    assert '?ref=[[ _copier_conf.vcs_ref_hash ]]" # [[ _copier_answers._commit ]]' in model_root
    moved = (REPO_ROOT / "template" / "moved.tf").read_bytes()
    assert moved == (REPO_ROOT / "stage-root" / "moved.tf").read_bytes()
