"""This repository as a template: a model's repository made with Copier, customised by its team,
then updated to a version with a breaking change (docs/fleet.md). Real Copier, real git. The
pinned layout end to end (its CI, a bump, the v1.0.0 migration): test_model_repository.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import copier
import pytest
import yaml

from scripts import template_self
from testbed.terraform import working_copy

REPO_ROOT = Path(__file__).resolve().parents[2]


def fleet(template: Path) -> list[str]:
    """scripts/fleet.py as a model repository runs it: from the template's checkout."""
    return ["python3", str(template / "scripts" / "fleet.py")]


# A model unlike the demo's: other accounts, Region, prefix, and a SageMaker Project.
ANSWERS = {
    "model_package_group_name": "ChurnModel",
    "name_prefix": "churn",
    "dev_account_id": "444455556666",
    "pre_prod_account_id": "777788889999",
    "prod_account_id": "123412341234",
    "region": "eu-west-1",
    "github_repository": "acme/churn-batch",
    "template_repository": "acme/sagemaker-batch-gitops",
    "sagemaker_project_name": "churn",
    "sagemaker_project_id": "p-abcdef123456",
    "feature_columns": "tenure monthly_charges contract_months",
}
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "fleet-test",
    "GIT_AUTHOR_EMAIL": "fleet-test@example.com",
    "GIT_COMMITTER_NAME": "fleet-test",
    "GIT_COMMITTER_EMAIL": "fleet-test@example.com",
}


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def run(cwd: Path, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)


def commit_all(cwd: Path, message: str) -> None:
    git(cwd, "add", "-A")
    git(cwd, "commit", "-q", "-m", message)


@pytest.fixture(autouse=True)
def git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Copier commits in its scratch repositories: a fresh CI machine has no git identity."""
    for name, value in GIT_IDENTITY.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def template(tmp_path: Path) -> Path:
    """This working tree (tracked and new files, as CI checks it out) as a template at v1.0.0."""
    root = working_copy(REPO_ROOT, tmp_path / "template")
    git(root, "init", "-q", "-b", "main")
    commit_all(root, "v1")
    git(root, "tag", "v1.0.0")
    return root


def make_repository(template: Path, destination: Path) -> Path:
    """`copier copy` with ANSWERS, then `git init` and a first commit, as docs/fleet.md says."""
    copier.run_copy(str(template), str(destination), data=ANSWERS, defaults=True, unsafe=True,
                    quiet=True)  # fmt: skip
    git(destination, "init", "-q", "-b", "main")
    commit_all(destination, "made from the template")
    return destination


def stage_file(repository: Path, stage: str) -> dict[str, object]:
    return json.loads((repository / f"{stage}-config.tfvars.json").read_text(encoding="utf-8"))


def release(template: Path, version: str, changelog: str, migrations: list[object]) -> None:
    """Commit the template's working tree as `version`, with its CHANGELOG section and
    migrations, and tag it."""
    config_path = template / "copier.yml"
    config = config_path.read_text(encoding="utf-8")
    rendered = yaml.safe_dump({"_migrations": migrations}, sort_keys=False).rstrip("\n")
    config_path.write_text(config.replace("_migrations: []", rendered), encoding="utf-8")
    changelog_path = template / "CHANGELOG.md"
    text = changelog_path.read_text(encoding="utf-8")
    changelog_path.write_text(text.replace("## 1.0.0", f"{changelog}\n\n## 1.0.0", 1),
                              encoding="utf-8")  # fmt: skip
    commit_all(template, version)
    git(template, "tag", version)


def rename_everywhere(root: Path, old: str, new: str) -> None:
    """The template's side of a breaking rename: every tracked text file."""
    for name in git(root, "ls-files").splitlines():
        path = root / name
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        if old in text:
            path.write_text(text.replace(old, new), encoding="utf-8")


def test_this_repository_is_the_rendering_of_its_own_answers(tmp_path: Path) -> None:
    assert template_self.main([]) == 0
    copy = tmp_path / "copy"
    working_copy(REPO_ROOT, copy)
    stage = copy / "prod-config.tfvars.json"
    stage.write_text(stage.read_text(encoding="utf-8").replace("ml.m5", "ml.c5"), encoding="utf-8")
    answers = yaml.safe_load(template_self.ANSWERS.read_text(encoding="utf-8"))
    env = template_self.environment(copy)
    drifted = [
        template_self.target_of(path, copy).name
        for path in template_self.templates(copy)
        if template_self.rendered(path, answers, env)
        != template_self.target_of(path, copy).read_text(encoding="utf-8")
    ]
    assert drifted == ["prod-config.tfvars.json"]


READ_PROD = (
    "from promotion.config import load_stage_config, default_config_path as p;"
    "print(load_stage_config(p('prod'), stage='prod')"
)


def pinned_python(repository: Path, template: Path, code: str) -> subprocess.CompletedProcess[str]:
    """Python code run as a model repository runs the template's: from its checkout at the pin
    (here the template itself), on the repository's files (MODEL_REPOSITORY)."""
    env = {**os.environ, "MODEL_REPOSITORY": str(repository), "PYTHONPATH": str(template)}
    return subprocess.run([sys.executable, "-c", code], cwd=repository, env=env,
                          capture_output=True, text=True, check=False)  # fmt: skip


def test_copy_writes_the_answers_where_they_belong(template: Path, tmp_path: Path) -> None:
    repository = make_repository(template, tmp_path / "churn-batch")

    prod = stage_file(repository, "prod")
    assert prod["account_id"] == "123412341234"
    assert prod["source_account_id"] == "444455556666"
    assert prod["region"] == "eu-west-1"
    assert prod["model_package_group_name"] == "ChurnModel"
    assert prod["artifacts_bucket"] == "churn-artifacts-123412341234"
    assert prod["sagemaker_execution_role_arn"] == (
        "arn:aws:iam::123412341234:role/sagemaker-churn-execution"
    )
    assert prod["tags"] == {
        "sagemaker:project-name": "churn",
        "sagemaker:project-id": "p-abcdef123456",
    }
    assert stage_file(repository, "pre-prod")["account_id"] == "777788889999"
    settings = json.loads((repository / "bootstrap/settings.tfvars.json").read_text())
    assert settings["github_repository"] == "acme/churn-batch"
    assert settings["dev_artifacts_bucket"] == "ml-artifacts-444455556666"
    assert (repository / "README.md").read_text().startswith("# Batch inference of ChurnModel\n")
    recorded = yaml.safe_load((repository / ".copier-answers.yml").read_text())
    assert recorded["_commit"] == "v1.0.0"
    assert recorded["prod_account_id"] == "123412341234"
    # The model's own inputs, with its columns: never the template's (the demo model's) rows.
    smoke = (repository / "inputs/smoke-input.csv").read_text().splitlines()
    assert smoke[0] == "record_id,tenure,monthly_charges,contract_months" and len(smoke) == 6
    rows = (repository / "inputs/evaluation-rows.csv").read_text().splitlines()
    assert rows == ["record_id,tenure,monthly_charges,contract_months"]
    # The template's own checks and sources stay behind.
    assert not (repository / "copier.yml").exists()
    assert not (repository / "tests" / "fleet").exists()
    assert not list(repository.rglob("*.jinja"))
    # The template's code reads the new repository's stage files as they are.
    check = pinned_python(repository, template, READ_PROD + ".account_id)")
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == "123412341234"


@pytest.mark.parametrize(
    ("answer", "value", "message"),
    [
        ("dev_account_id", "12345", "12 digits"),
        ("name_prefix", "Churn_Model", "lower-case letters"),
        ("region", "europe", "an AWS Region"),
        ("sagemaker_project_id", "p-abc_123", "a project id"),
        ("sagemaker_project_name", "churn project", "a project name"),
        ("feature_columns", "tenure,charges", "separated by spaces"),
        ("smoke_input", "rows.csv", "an absolute path"),
    ],
)
def test_copy_refuses_a_bad_answer_and_writes_nothing(
    template: Path, tmp_path: Path, answer: str, value: str, message: str
) -> None:
    destination = tmp_path / "bad"
    with pytest.raises(ValueError, match=message):
        copier.run_copy(str(template), str(destination), data={**ANSWERS, answer: value},
                        defaults=True, unsafe=True, quiet=True)  # fmt: skip
    assert not destination.exists()


@pytest.mark.parametrize(
    ("data", "last_line"),
    [
        ({"dev_account_id": "4444"},
         "ValueError: Validation error for question 'dev_account_id': 12 digits"),
        ({"smoke_input": "rows.csv"},
         "ValueError: Validation error for question 'smoke_input': an absolute path (Copier runs "
         "its tasks in the new repository)"),
        ({"github_repository": "OWNER/REPO"},
         "ValueError: Validation error for question 'github_repository': the repository's real "
         "owner (the stage roles will trust exactly this repository), not the placeholder OWNER"),
        ({"feature_columns": "record_id tenure"},
         "ValueError: Validation error for question 'feature_columns': record_id is the inputs' "
         "id column (id_column of the stage files): leave it out of the feature columns"),
        ({"feature_columns": "tenure charges tenure"},
         "ValueError: Validation error for question 'feature_columns': a column is named twice: "
         "name each feature column once"),
        ({"smoke_input": "/no/such/rows.csv"},
         "fleet: error: smoke_input /no/such/rows.csv is not a file: answer the absolute path of a "
         "CSV, or nothing to have it made from the feature columns"),
    ],
)  # fmt: skip
def test_copiers_command_line_stops_on_a_bad_answer_before_writing(
    template: Path, tmp_path: Path, data: dict[str, str], last_line: str
) -> None:
    """As docs/fleet.md says: with --data, Copier's own traceback ends in the validator's line
    (Copier 9.19 does not catch it); a file the task cannot copy is fleet.py's one line. Nothing
    is left either way."""
    destination = tmp_path / "bad"
    answers = [f"--data={key}={value}" for key, value in {**ANSWERS, **data}.items()]
    command = [sys.executable, "-m", "copier", "copy", "--trust", "--defaults", "--quiet",
               *answers, str(template), str(destination)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode != 0, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert last_line in lines[-3:], done.stderr
    assert not destination.exists()


def assert_checks_pass(repository: Path, template: Path) -> None:
    """The repository's own checks (its CI's Python part) with the template's code at the pin."""
    env = {**os.environ, "MODEL_REPOSITORY": str(repository), "PYTHONPATH": str(template)}
    command = [sys.executable, str(template / "scripts/model_checks.py")]
    done = subprocess.run(command, cwd=repository, env=env, capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_update_keeps_the_teams_edits_and_migrates_a_renamed_key(
    template: Path, tmp_path: Path
) -> None:
    repository = make_repository(template, tmp_path / "churn-batch")
    # The team's edits: its stage values, an alert address, its README's first paragraph.
    prod_path = repository / "prod-config.tfvars.json"
    prod_text = prod_path.read_text(encoding="utf-8")
    prod_text = prod_text.replace('"transform_instance_type": "ml.m5.xlarge"',
                                  '"transform_instance_type": "ml.c5.2xlarge"')  # fmt: skip
    prod_text = prod_text.replace('"alarm_email": null', '"alarm_email": "ml-oncall@example.com"')
    prod_path.write_text(prod_text, encoding="utf-8")
    readme = repository / "README.md"
    first, rest = readme.read_text(encoding="utf-8").split("\n\n", 1)
    readme.write_text(f"{first}\n\nChurn scores for the retention team, nightly.\n\n{rest}")
    own_rows = "record_id,tenure,monthly_charges,contract_months\n1,14,70.35,12\n2,3,99.9,1\n"
    (repository / "inputs/smoke-input.csv").write_text(own_rows)
    commit_all(repository, "our values")
    assert run(repository, *fleet(template), "check-owned", "HEAD~1").returncode == 0

    # Version 2.0.0 of the template: a breaking rename, a template-owned change, a migration.
    rename_everywhere(template, "alarm_email", "alert_email")
    for script in ("scripts/stage_schema.py", "scripts/tf_docs.py"):  # `make docs`
        assert run(template, sys.executable, script, "--write").returncode == 0
    makefile = template / "template" / "Makefile.jinja"
    makefile.write_text(makefile.read_text(encoding="utf-8") + "# A line new in 2.0.0.\n")
    # Copier runs a migration in the repository: the script from its checkout of the template.
    migration = (
        "python3 [[ _copier_conf.src_path ]]/scripts/fleet.py rename-key alarm_email alert_email"
    )
    notes = "## 2.0.0\n\n- **Breaking**: `alarm_email` is `alert_email`."
    release(template, "v2.0.0", notes, [{"version": "v2.0.0", "command": migration}])

    copier.run_update(str(repository), defaults=True, unsafe=True, overwrite=True,
                      conflict="inline", quiet=True)  # fmt: skip

    prod = stage_file(repository, "prod")
    assert prod["alert_email"] == "ml-oncall@example.com"
    assert "alarm_email" not in prod
    assert prod["transform_instance_type"] == "ml.c5.2xlarge"
    assert "alert_email" in stage_file(repository, "pre-prod")
    assert "Churn scores for the retention team" in readme.read_text(encoding="utf-8")
    assert (repository / "inputs/smoke-input.csv").read_text() == own_rows
    assert (repository / "Makefile").read_text().endswith("# A line new in 2.0.0.\n")
    assert yaml.safe_load((repository / ".copier-answers.yml").read_text())["_commit"] == "v2.0.0"
    assert run(repository, *fleet(template), "conflicts").returncode == 0
    body = run(repository, *fleet(template), "pr-body", "v1.0.0", "v2.0.0").stdout
    assert "Conflicts" not in body
    assert "## 2.0.0" in body and "`alarm_email` is `alert_email`" in body
    assert "## 1.0.0" not in body and "Conflicts" not in body
    # The updated code reads the migrated file; the migration run again changes nothing.
    check = pinned_python(repository, template, READ_PROD + ".alert_email)")
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == "ml-oncall@example.com"
    again = run(repository, *fleet(template), "rename-key", "alarm_email", "alert_email")
    assert again.stdout.strip() == "renamed alarm_email to alert_email in nothing"
    # The updated repository's own checks pass on its own values.
    assert_checks_pass(repository, template)


def test_a_conflicting_edit_stays_inline_and_fails_the_check(
    template: Path, tmp_path: Path
) -> None:
    repository = make_repository(template, tmp_path / "churn-batch")
    makefile = repository / "Makefile"
    line = "status: $(TEMPLATE_STAMP) $(PY_STAMP) ## what STAGE runs now (read-only)"
    ours = makefile.read_text(encoding="utf-8").replace(line, line.replace("now", "today"))
    makefile.write_text(ours, encoding="utf-8")
    commit_all(repository, "a local edit of a template file")
    foreign = run(repository, *fleet(template), "check-owned", "HEAD~1")
    assert foreign.returncode == 1
    assert foreign.stderr.strip() == "fleet: error: changed outside the team's files: Makefile"

    theirs = template / "template" / "Makefile.jinja"
    theirs.write_text(theirs.read_text().replace(line, line.replace("read-only", "reads only")))
    release(template, "v1.1.0", "## 1.1.0\n\n- The status help line.", [])
    copier.run_update(str(repository), defaults=True, unsafe=True, overwrite=True,
                      conflict="inline", quiet=True)  # fmt: skip

    text = makefile.read_text(encoding="utf-8")
    assert "<<<<<<< before updating" in text and ">>>>>>> after updating" in text
    assert "runs today" in text and "(reads only)" in text  # neither side lost
    conflicts = run(repository, *fleet(template), "conflicts")
    assert conflicts.returncode == 1
    assert conflicts.stderr.strip() == (
        "fleet: error: unresolved template-update conflicts in: Makefile"
    )
    body = run(repository, *fleet(template), "pr-body", "v1.0.0", "v1.1.0").stdout
    assert "**Conflicts to resolve**" in body and "- `Makefile`" in body
