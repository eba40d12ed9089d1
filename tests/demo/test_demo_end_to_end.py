"""The demo's story end to end on an embedded moto server, and its output directory rules."""

from __future__ import annotations

import json
import re
from pathlib import Path

import boto3
import numpy as np
import pandas as pd
import pytest

from demo.__main__ import MARKER, claim_output_dir, main, print_summary, run_story
from demo.evidence import DRIFTED_FEATURE
from demo.kinds import OWN_GROUP, XGBOOST_GROUP
from demo.story import (
    PHASES,
    Story,
    backfill_daily,
    promote_pre_prod,
    promote_prod,
    register_versions,
    run_pre_prod,
    show_evidence,
)
from promotion.images import stage_repository
from testbed import model_kinds
from testbed.deploy import Deployer
from testbed.local_aws import account_session, local_aws
from testbed.seed import FEATURES, ID_COLUMN, sample_input, train_model


def test_the_story_promotes_reruns_scores_and_rolls_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the three-account local AWS
    story = Story(rows=300, output_dir=tmp_path / "out", commit="f00dfeed")
    # (the daily backfill, three local runs, is tested as a phase in test_daily_demo.py)
    phases = [phase for phase in PHASES if phase.run is not backfill_daily]
    with local_aws():
        # WHEN every phase of the demo runs, deploying with the boto3 stand-in: what the real
        # Terraform deploys and prints is checked on `make demo` itself (test_demo_reruns.py)
        timings = run_story(story, phases)
        print_summary(story, timings)
        own = tmp_path / "out" / "kinds" / OWN_GROUP / "build"
        own_images = {stage: json.loads((own / stage / "images.json").read_text())["images"][0]
                      for stage in ("pre-prod", "prod")}  # fmt: skip
        held = {stage: _stage_image_digests(story.session(stage)) for stage in own_images}

    # THEN each phase ran once, and every claim the demo prints holds
    assert [title for title, _ in timings] == [phase.title for phase in phases]
    assert story.succeeded
    facts = dict(story.facts)
    assert facts["re-run writes"] == "0"
    # ... the reviewer's evidence: the clean batch passed, the shifted feature stopped its batch,
    # and the two Approved versions were compared, the full reports below --output-dir
    assert facts["data quality"].startswith(
        f"clean batch passed; drifted batch stopped: {DRIFTED_FEATURE} (drift "
    )
    evidence = tmp_path / "out" / "evidence"
    assert facts["v1 vs v3"] == f"pass, 99.3% of 143 predictions agree -> {evidence}/comparison.md"
    assert (evidence / "comparison.md").read_text().startswith("### Champion v1 vs challenger v3")
    assert "violations" in (evidence / "drifted" / "quality" / "algo-1-data-quality.md").read_text()
    assert facts["prod runs"] == "source version 3 (same source ARN as pre-prod: yes)"
    assert facts["pre-prod promoted"].startswith("source version 3 as ")
    assert facts["rollback"] == "pre-prod runs source version 1 again"
    assert story.tfvars["prod"]["source_model_package_arn"].endswith("/3")
    # ... the predictions are the newest Approved model's own, one per held-out row
    predictions = pd.read_csv(tmp_path / "out" / "predictions.csv")
    assert len(predictions) == 300 and (predictions["model_package_version"] == 3).all()
    sample = sample_input(300)
    scored = predictions.set_index(ID_COLUMN).loc[sample[ID_COLUMN]]
    expected = train_model(seed=2).predict_proba(sample[FEATURES])[:, 1]
    np.testing.assert_allclose(scored["prediction"].to_numpy(), expected, rtol=0, atol=1e-5)
    # ... and the accuracy is the held-out rows' own: each counted once however often drawn
    distinct = sample[FEATURES].drop_duplicates()
    labels = sample_input(300, labels=True).loc[distinct.index, "label"]
    right = (train_model(seed=2).predict_proba(distinct)[:, 1] > 0.5).astype(int) == labels
    assert facts["accuracy"] == (f"{right.mean():.1%} against the held-out labels "
                                 f"({len(distinct)} distinct rows, 300 predictions)")  # fmt: skip
    # ... and the status view says pre-prod's pipeline and schedule run the rolled-back version
    printed = capsys.readouterr().out
    # ... the re-run found the four artifacts in place: none copied, four already there
    rerun = printed[printed.index("Re-run the same promotion") :]
    assert re.search(r"Artifacts +0 copied, 4 already there", rerun)
    status = printed[printed.index("Status of pre-prod (account") :]
    model = (r"model breast-cancer-classifier-pre-prod-v1-[0-9a-f]{8} -> version 2 "
             r"\(source version 1\)")  # fmt: skip
    for resource in ("pipeline breast-cancer-classifier-pre-prod-batch-inference [Active]",
                     "schedule breast-cancer-classifier-pre-prod-batch-inference [ENABLED "
                     "cron(0 3 * * ? *)]"):  # fmt: skip
        assert re.search(f"{re.escape(resource)}: {model}", status), status
    assert "f00dfeed" in status
    # ... and the story is plain text: no Markdown table or heading reached the terminal
    assert "|" not in printed and "###" not in printed
    tfvars = json.loads(
        (tmp_path / "out" / "build" / "pre-prod" / "deployment.tfvars.json").read_text()
    )
    assert tfvars["source_model_package_version"] == 1
    # ... two more model kinds scored the same held-out rows: each kind's own predictions
    # (the real xgboost booster; the own container's weights), accuracies side by side
    accuracies = {kind: float(value.rstrip("%")) for kind, _, value in story.accuracies}
    assert list(accuracies) == ["scikit-learn, script mode", "XGBoost, built-in algorithm",
                                "own container (LOCAL_SERVE_COMMAND)"]  # fmt: skip
    assert all(90 <= value <= 100 for value in accuracies.values()), accuracies
    summary = printed[printed.index("Accuracy per model kind") :]
    for kind, image, value in story.accuracies:
        assert re.search(rf"{re.escape(kind)} +{re.escape(image)} +{re.escape(value)}", summary)
    kinds = tmp_path / "out" / "kinds"
    rows = sample[FEATURES].to_numpy()
    xgboost_scores = _published(kinds / XGBOOST_GROUP / "predictions.csv", sample)
    booster = model_kinds.train_xgboost()
    np.testing.assert_allclose(xgboost_scores, booster.predict(_matrix(rows)), rtol=0, atol=1e-6)
    weights = model_kinds.own_weights()
    logits = rows @ np.array(weights["weights"]) + weights["bias"]
    own_scores = _published(kinds / OWN_GROUP / "predictions.csv", sample)
    np.testing.assert_allclose(own_scores, 1 / (1 + np.exp(-logits)), rtol=0, atol=1e-6)
    # ... the own image: copied by digest into each stage's ECR, prod on pre-prod's digest
    digest = own_images["pre-prod"]["digest"]
    assert digest.startswith("sha256:") and own_images["prod"]["digest"] == digest
    for stage, image in own_images.items():
        assert image["image"].endswith(f"/{stage_repository(OWN_GROUP)}@{digest}")
        assert held[stage] == [digest]
    assert f"digest in pre-prod and prod: {digest} (same: yes)" in printed
    assert dict(story.facts)["own image digest"] == f"{digest} in pre-prod and prod (same: yes)"


def _stage_image_digests(session: boto3.Session) -> list[str]:
    """The digests the stage's own-container repository holds."""
    images = session.client("ecr").describe_images(repositoryName=stage_repository(OWN_GROUP))
    return [image["imageDigest"] for image in images["imageDetails"]]


def _published(path: Path, sample: pd.DataFrame) -> np.ndarray:
    """A kind's published predictions, in the sample's row order."""
    frame = pd.read_csv(path)
    assert len(frame) == len(sample)
    return frame.set_index(ID_COLUMN).loc[sample[ID_COLUMN], "prediction"].to_numpy()


def _matrix(rows: np.ndarray) -> object:
    import xgboost as xgb

    return xgb.DMatrix(rows)


def test_without_a_provider_the_demo_says_so_and_deploys_with_its_stand_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a machine whose only provider mirror is empty (and no registry is asked)
    empty = tmp_path / "mirror"
    (empty / "registry.terraform.io" / "hashicorp" / "aws").mkdir(parents=True)
    story = Story(rows=300, output_dir=tmp_path / "out")
    with local_aws() as endpoint:
        story.deployer = Deployer(
            tmp_path / "tf", endpoint, environ={"TF_PROVIDER_MIRROR": str(empty)}
        )
        register_versions(story)
        promote_pre_prod(story)
        promote_prod(story)  # both stages deploying in the background
        # WHEN pre-prod's deployment is awaited
        story.deployed("pre-prod")
        # THEN the demo said plainly that the stand-in deploys, and it deployed both stages
        pipelines = {}
        for stage in ("pre-prod", "prod"):
            sm = account_session(story.configs[stage].account_id).client("sagemaker")
            summaries = sm.list_pipelines()["PipelineSummaries"]
            pipelines[stage] = [p["PipelineName"] for p in summaries]
    printed = capsys.readouterr().out
    assert "terraform could not install hashicorp/aws" in printed
    assert "boto3 stand-in" in printed and story.deployer is None
    assert pipelines == {
        stage: [story.tfvars[stage]["pipeline_name"]] for stage in ("pre-prod", "prod")
    }


def test_the_daily_and_evidence_phases_follow_the_local_run_and_precede_prod() -> None:
    # GIVEN the demo's phases  WHEN they are listed  THEN the new ones sit between the run and prod
    order = [phase.run for phase in PHASES]
    assert order.index(run_pre_prod) + 1 == order.index(backfill_daily)
    assert order.index(backfill_daily) + 1 == order.index(show_evidence)
    assert order.index(show_evidence) + 1 == order.index(promote_prod)


def test_a_directory_the_demo_did_not_make_is_refused_and_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a directory holding someone's file
    mine = tmp_path / "results"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")

    # WHEN the demo is pointed at it
    code = main(["--output-dir", str(mine)])

    # THEN it refuses in one line, exit 2, and touches nothing
    error = capsys.readouterr().err
    assert code == 2
    assert error.count("\n") == 1 and "not made by the demo" in error
    assert [p.name for p in mine.iterdir()] == ["thesis.tex"]


@pytest.mark.parametrize("state", ["new", "empty", "made-by-demo"])
def test_new_empty_or_own_directories_are_claimed_and_started_afresh(
    tmp_path: Path, state: str
) -> None:
    # GIVEN a directory that does not exist, is empty, or an earlier demo made (its outputs and
    # the Terraform state of an embedded AWS long gone, and a file of the user's)
    target = tmp_path / "out"
    if state != "new":
        target.mkdir()
    if state == "made-by-demo":
        (target / MARKER).write_text("")
        (target / "predictions.csv").write_text("old")
        (target / "terraform" / "pre-prod").mkdir(parents=True)
        (target / "terraform" / "pre-prod" / "terraform.tfstate").write_text("{}")
        (target / "notes.txt").write_text("mine")

    # WHEN the demo claims it
    with claim_output_dir(target):
        # THEN it is marked as the demo's, what the last run wrote is gone, the rest is kept
        assert (target / MARKER).is_file()
        assert not (target / "predictions.csv").exists() and not (target / "terraform").exists()
        assert (state != "made-by-demo") or (target / "notes.txt").read_text() == "mine"


def test_a_directory_another_demo_holds_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a demo holding its output directory, in the middle of a run
    target = tmp_path / "out"
    with claim_output_dir(target):
        (target / "predictions.csv").write_text("being written")

        # WHEN a second demo is pointed at it
        code = main(["--output-dir", str(target)])

        # THEN it refuses in one line and leaves the first run's files alone
        assert code == 2
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and "in use by another demo" in error
        assert (target / "predictions.csv").read_text() == "being written"


def test_a_file_or_unwritable_path_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a path that is a file
    target = tmp_path / "file"
    target.write_text("x")

    # WHEN the demo is pointed at it, THEN one line and exit 2
    assert main(["--output-dir", str(target)]) == 2
    assert "is a file" in capsys.readouterr().err


def test_a_failed_step_keeps_its_logs_where_the_message_points(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a deployed pre-prod stage whose local run fails in Preprocess, leaving its logs
    import pipelines.local
    from demo.story import run_pre_prod
    from pipelines.local import RunResult, StepResult
    from promotion.config import default_config_path, load_stage_config
    from testbed.local_aws import PRE_PROD_ACCOUNT, account_session, create_bucket

    def failing_run(definition: object, *, work_dir: Path, **_: object) -> RunResult:
        step_dir = work_dir / "exec0001" / "Preprocess"
        step_dir.mkdir(parents=True)
        (step_dir / "stderr.log").write_text("ValueError: column f07 holds text")
        failed = StepResult("Preprocess", "Processing", "Failed", 0.1, "script exited with 1")
        return RunResult("exec0001", "Failed", [failed])

    monkeypatch.setattr(pipelines.local, "run_definition", failing_run)
    definition = tmp_path / "definition.json"
    definition.write_text("{}")
    story = Story(rows=10, output_dir=tmp_path / "out")
    story.configs["pre-prod"] = config = load_stage_config(default_config_path("pre-prod"))
    story.tfvars["pre-prod"] = {"pipeline_definition_file": str(definition),
                                "model_package_arn": "arn:unused"}  # fmt: skip
    with local_aws():
        create_bucket(account_session(PRE_PROD_ACCOUNT), config.input_data_url.split("/")[2])

        # WHEN the demo's run phase meets the failure
        with pytest.raises(SystemExit) as ended:
            run_pre_prod(story)

    # THEN it exits 1, names the failed step and a folder below --output-dir that still holds
    # the step's logs
    assert ended.value.code == 1 and not story.succeeded
    line = next(x for x in capsys.readouterr().out.splitlines() if "Preprocess failed" in x)
    folder = Path(line.split("its files and logs: ")[1])
    assert folder == tmp_path / "out" / "local-run" / "exec0001"
    assert (folder / "Preprocess" / "stderr.log").read_text().startswith("ValueError")


def test_make_local_aws_does_not_suggest_itself(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a finished story WHEN its summary is printed by `make demo`, then by `make local-aws`
    story = Story(rows=1, output_dir=tmp_path)
    print_summary(story, [])
    after_demo = capsys.readouterr().out
    print_summary(story, [], serving=True)
    while_serving = capsys.readouterr().out
    # THEN only the demo suggests keeping its AWS running; both suggest the other commands
    assert "make local-aws" in after_demo and "make local-aws" not in while_serving
    assert "build.py --help" in while_serving
