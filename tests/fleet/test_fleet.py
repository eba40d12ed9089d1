"""scripts/fleet.py on its own: key renames, changelog sections, owned paths, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scripts import fleet

REPO_ROOT = Path(__file__).resolve().parents[2]


def stage_files(root: Path, **extra: object) -> None:
    for name in fleet.STAGE_FILES:
        values = {"stage": name.split("-config")[0], "alarm_email": "a@example.com", **extra}
        (root / name).write_text(json.dumps(values, indent=2) + "\n", encoding="utf-8")


def test_rename_key_keeps_every_other_line_and_is_idempotent(tmp_path: Path) -> None:
    stage_files(tmp_path, schedule_expression="cron(0 4 * * ? *)")
    before = (tmp_path / "prod-config.tfvars.json").read_text(encoding="utf-8")

    assert fleet.rename_key("alarm_email", "alert_email", tmp_path) == list(fleet.STAGE_FILES)
    after = (tmp_path / "prod-config.tfvars.json").read_text(encoding="utf-8")
    assert after == before.replace('"alarm_email"', '"alert_email"')
    assert fleet.rename_key("alarm_email", "alert_email", tmp_path) == []


def test_rename_key_refuses_a_file_holding_both_keys(tmp_path: Path) -> None:
    stage_files(tmp_path, alert_email="b@example.com")
    with pytest.raises(fleet.FleetError, match="holds both alarm_email and alert_email"):
        fleet.rename_key("alarm_email", "alert_email", tmp_path)
    assert '"alarm_email"' in (tmp_path / "pre-prod-config.tfvars.json").read_text()


def test_changelog_between_two_versions_quotes_only_the_newer_sections(tmp_path: Path) -> None:
    (tmp_path / "CHANGELOG.md").write_text(
        "# Changelog\n\nintro\n\n## 2.1.0\n\nc\n\n## [2.0.0] - 2026-12-01\n\nb\n\n## 1.0.0\n\na\n"
    )
    text = fleet.changelog_between("v1.0.0", "v2.1.0", tmp_path)
    assert text == "## 2.1.0\n\nc\n\n## [2.0.0] - 2026-12-01\n\nb"
    assert fleet.changelog_between("v2.1.0", "v2.1.0", tmp_path) == ""
    with pytest.raises(fleet.FleetError, match="'main' is not a version"):
        fleet.changelog_between("main", "v2.1.0", tmp_path)


def test_owned_paths_are_the_stage_files_the_settings_the_inputs_and_the_readme() -> None:
    assert fleet.outside_owned(["README.md", "prod-config.tfvars.json", "build.py"]) == ["build.py"]
    assert fleet.outside_owned(["bootstrap/settings.tfvars.json"]) == []
    assert fleet.outside_owned(["inputs/smoke-input.csv", "inputs/evaluation-rows.csv"]) == []
    # Every owned file exists here. Copier never updates the stage files, the settings and the
    # README (_skip_if_exists); it has no inputs to copy (template/ holds none): its task,
    # run from its checkout of the template, writes them once.
    assert all((REPO_ROOT / path).is_file() for path in fleet.OWNED)
    copier_yml = yaml.safe_load((REPO_ROOT / "copier.yml").read_text(encoding="utf-8"))
    skipped = [path.lstrip("/") for path in copier_yml["_skip_if_exists"]]
    assert sorted(skipped) == sorted(path for path in fleet.OWNED if path not in fleet.INPUTS)
    assert copier_yml["_subdirectory"] == "template"
    assert not (REPO_ROOT / "template" / "inputs").exists()
    (task,) = copier_yml["_tasks"]
    assert task["command"][1:3] == ["[[ _copier_conf.src_path ]]/scripts/fleet.py", "init-inputs"]
    assert task["when"] == "[[ _copier_operation == 'copy' ]]"  # copy and recopy, never update
    assert {str(Path(path).parent) for path in fleet.INPUTS} == {"inputs"}


@pytest.mark.parametrize(
    ("source", "repository"),
    [
        ("gh:acme/sagemaker-batch-gitops", "acme/sagemaker-batch-gitops"),
        ("https://github.com/acme/tpl.git", "acme/tpl"),
        ("/tmp/a-local-clone", None),
        ("https://gitlab.com/acme/tpl.git", None),
    ],
)
def test_the_template_repository_a_migration_names(source: str, repository: str | None) -> None:
    assert fleet._github_repository(source) == repository


def test_a_migration_outside_a_copier_repository_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(fleet.FleetError, match="no .copier-answers.yml here"):
        fleet.migrate_to_pinned(tmp_path, "copier", None, None, "")


def test_a_migration_from_a_clone_without_the_pinned_version_says_where_to_run_it(
    tmp_path: Path,
) -> None:
    answers = {"_commit": "v0.0.1-unknown", "_src_path": "gh:acme/sagemaker-batch-gitops"}
    (tmp_path / ".copier-answers.yml").write_text(yaml.safe_dump(answers), encoding="utf-8")
    with pytest.raises(fleet.FleetError, match="does not hold v0.0.1-unknown.*full clone"):
        fleet.migrate_to_pinned(tmp_path, "copier", None, None, "")
    assert [path.name for path in tmp_path.iterdir()] == [".copier-answers.yml"]


def test_init_inputs_writes_the_models_own_files_once(tmp_path: Path) -> None:
    # GIVEN a new repository and the model's columns, with the team's evaluation rows as a file
    rows = tmp_path / "rows.csv"
    rows.write_text("record_id,tenure,charges\n7,12,80.5\n")
    root = tmp_path / "repository"
    # WHEN the inputs are made
    done = fleet.init_inputs("tenure charges", "", str(rows), root)
    # THEN the smoke input has the columns and placeholder rows, the rows file is the team's
    smoke = (root / "inputs/smoke-input.csv").read_text().splitlines()
    assert smoke[0] == "record_id,tenure,charges" and smoke[1:] == [f"{i},0,0" for i in range(1, 6)]
    assert (root / "inputs/evaluation-rows.csv").read_text() == rows.read_text()
    assert len(done) == 2 and "put rows of your model's data in it" in done[0]
    # AND a second run (a recopy runs the task again) leaves the team's edits alone
    (root / "inputs/smoke-input.csv").write_text("record_id,tenure,charges\n1,3,4\n")
    assert fleet.init_inputs("other columns", "", "", root) == []
    assert (root / "inputs/smoke-input.csv").read_text() == "record_id,tenure,charges\n1,3,4\n"


def test_init_inputs_of_a_file_that_is_not_there_names_the_answer(tmp_path: Path) -> None:
    with pytest.raises(fleet.FleetError, match=r"^smoke_input /no/such.csv is not a file: "):
        fleet.init_inputs("a b", "/no/such.csv", "", tmp_path)
    assert not (tmp_path / "inputs").exists()


def test_init_inputs_without_columns_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(fleet.FleetError, match="give the model's feature columns"):
        fleet.init_inputs("", "", "", tmp_path)
    with pytest.raises(fleet.FleetError, match="each once"):
        fleet.init_inputs("a a", "", "", tmp_path)


def test_a_bad_revision_is_one_line_and_exit_1() -> None:
    done = subprocess.run(
        [sys.executable, "scripts/fleet.py", "check-owned", "no-such-revision"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.startswith("fleet: error: git diff --name-only no-such-revision HEAD: ")
    assert done.stderr.count("\n") == 1
