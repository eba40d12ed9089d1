"""Two more model kinds in the demo, beside the scikit-learn model: a built-in XGBoost model and a
team's own container from the dev account's ECR (testbed/model_kinds.py), trained on the same
rows, each in its own model package group with its own stage files (as its own repository would
hold them), promoted by build.py and scored locally on the same held-out rows.

Each model's folder is `<output>/kinds/<group>/`: its stage files (the demo's, with the group and
the data prefixes changed), build.py's outputs (`build/<stage>/`) and its pre-prod predictions
(`predictions.csv`).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pandas as pd

from promotion.config import StageConfig, default_config_path, load_stage_config, parse_s3_url
from promotion.images import stage_repository
from promotion.output import text_table
from testbed import model_kinds, seed
from testbed.local_aws import DEV_ACCOUNT, account_session

if TYPE_CHECKING:  # demo.story lists these phases
    from demo.story import Story

DEV_BUCKET = f"ml-artifacts-{DEV_ACCOUNT}"  # the dev bucket register_versions creates

XGBOOST_GROUP = "breast-cancer-xgboost"
OWN_GROUP = "breast-cancer-own-container"
OWN_DEV_REPOSITORY = "breast-cancer/own-server"  # the team's repository in the dev ECR


def short_image(uri: str) -> str:
    """An image without its registry, a digest cut to 12 hex: for the tables."""
    name = uri.split("/", 1)[-1]
    return name[: name.index("@sha256:") + 20] if "@sha256:" in name else name


@dataclass(frozen=True)
class Scored:
    """A local run's published predictions, where they are, and their accuracy."""

    predictions: pd.DataFrame
    folder: str
    accuracy: float  # over the distinct held-out rows the sample drew
    rows: int  # predictions matched with a label
    distinct: int  # distinct held-out rows among them


def score_locally(story: Story, config: StageConfig, definition: Path, package_arn: str) -> Scored:
    """Upload the held-out rows (labels dropped) under the stage's input, run the rendered
    definition locally with the package, and measure the predictions against the labels."""
    from pipelines.definition.layout import definition_feature_columns
    from pipelines.local import RunOptions, run_definition

    if story.labelled is None:
        story.labelled = seed.sample_input(story.rows, labels=True)
    labelled = story.labelled
    session = story.session(config.stage)
    upload_sample(session, config.input_data_url, labelled.drop(columns=[seed.LABEL_COLUMN]))
    held_out = len(seed.split()[1])
    drawn = "with replacement, " if story.rows > held_out else ""
    print(f"  {story.rows} row(s) drawn from the {held_out} held-out rows ({drawn}each with an id) "
          f"under {config.input_data_url}")  # fmt: skip
    work_dir = story.output_dir / "local-run"
    rendered = json.loads(definition.read_text())
    result = run_definition(
        rendered, parameters={}, session=session, work_dir=work_dir,
        model_package_arn=package_arn, log=lambda line: print(f"  {line}"),
        options=RunOptions(expected_features=definition_feature_columns(rendered)),
    )  # fmt: skip
    if result.status != "Succeeded":
        failed = next(step for step in result.steps if step.status == "Failed")
        print(f"  {failed.name} failed; its files and logs: {work_dir / result.execution_id}")
        story.succeeded = False
        raise SystemExit(1)
    predictions, folder = read_predictions(session, config.output_data_url, result.execution_id)
    scored = predictions.merge(labelled, on=seed.ID_COLUMN)
    # Each held-out row counts once, however often the sample drew it (the model scores a row
    # alike every time): the accuracy of the held-out rows, not of the draw.
    distinct = scored.drop_duplicates(subset=[c for c in labelled if c != seed.ID_COLUMN])
    right = (distinct["prediction"] > 0.5).astype(int) == distinct[seed.LABEL_COLUMN]
    accuracy = float(right.mean())
    print(text_table(("step", "status", "seconds"),
                     [(s.name, s.status, f"{s.seconds:.2f}") for s in result.steps]))  # fmt: skip
    print(f"  accuracy against the held-out labels: {accuracy:.1%} of {len(distinct)} distinct "
          f"rows ({len(scored)} predictions)")  # fmt: skip
    return Scored(predictions, folder, accuracy, len(scored), len(distinct))


def upload_sample(session: boto3.Session, input_url: str, sample: pd.DataFrame) -> None:
    """Half the sample as CSV, half as Parquet: the pipeline reads both."""
    bucket, prefix = parse_s3_url(input_url)
    half = len(sample) // 2
    s3 = session.client("s3")
    s3.put_object(
        Bucket=bucket, Key=f"{prefix}part-0000.csv", Body=sample[:half].to_csv(index=False)
    )
    parquet = io.BytesIO()
    sample[half:].to_parquet(parquet, index=False)
    s3.put_object(Bucket=bucket, Key=f"{prefix}part-0001.parquet", Body=parquet.getvalue())


def read_predictions(
    session: boto3.Session, output_url: str, execution_id: str
) -> tuple[pd.DataFrame, str]:
    """Every Parquet file the run wrote for this execution, and the folder holding them."""
    bucket, prefix = parse_s3_url(output_url)
    s3 = session.client("s3")
    frames, folder = [], output_url
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            if key.endswith(".parquet") and f"/{execution_id}/" in key:
                body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                frames.append(pd.read_parquet(io.BytesIO(body)))
                folder = f"s3://{bucket}/{key.rsplit('/', 1)[0]}/"
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), folder


def model_folder(story: Story, group: str) -> Path:
    """The model's folder with its two stage files: the demo's, for `group`, reading and writing
    below `<data bucket>/<group>/`."""
    folder = story.output_dir / "kinds" / group
    folder.mkdir(parents=True, exist_ok=True)
    for stage in ("pre-prod", "prod"):
        values = json.loads(default_config_path(stage).read_text(encoding="utf-8"))
        bucket = parse_s3_url(values["input_data_url"])[0]
        values.update(model_package_group_name=group,
                      input_data_url=f"s3://{bucket}/{group}/input/",
                      output_data_url=f"s3://{bucket}/{group}/predictions/")  # fmt: skip
        (folder / f"{stage}-config.tfvars.json").write_text(json.dumps(values, indent=2) + "\n")
    return folder


def score(story: Story, folder: Path, kind: str, image: str) -> float:
    """Run the model's pre-prod definition locally on the held-out rows; its accuracy."""
    config = load_stage_config(folder / "pre-prod-config.tfvars.json", stage="pre-prod")
    tfvars = json.loads((folder / "build" / "pre-prod" / "deployment.tfvars.json").read_text())
    definition = Path(tfvars["pipeline_definition_file"])
    scored = score_locally(story, config, definition, tfvars["model_package_arn"])
    scored.predictions.to_csv(folder / "predictions.csv", index=False)
    story.succeeded &= len(scored.predictions) == story.rows
    story.accuracies.append((kind, short_image(image), f"{scored.accuracy:.1%}"))
    return scored.accuracy


def xgboost_model(story: Story) -> None:
    """A built-in XGBoost model (real xgboost, `xgboost-model`, AWS's image) on the same rows:
    registered, promoted to pre-prod, scored; the accuracies of the kinds side by side."""
    folder = model_folder(story, XGBOOST_GROUP)
    dev = account_session(DEV_ACCOUNT)
    container = model_kinds.xgboost_container(str(dev.region_name))
    body = model_kinds.xgboost_archive(model_kinds.train_xgboost())
    arn = model_kinds.register(dev, group=XGBOOST_GROUP, bucket=DEV_BUCKET, container=container,
                               body=body)  # fmt: skip
    print(f"dev registry {XGBOOST_GROUP}: {arn} (Approved, {container['Image']})")
    story.build("pre-prod", model=folder)
    accuracy = score(story, folder, "XGBoost, built-in algorithm", container["Image"])
    story.facts.append(("XGBoost accuracy", f"{accuracy:.1%} ({XGBOOST_GROUP}, pre-prod)"))


def own_container(story: Story) -> None:
    """The team's own image in the dev ECR: promoted to pre-prod (its layers copied into the
    stage's ECR), then the same digest to prod; scored by its declared serve command."""
    folder = model_folder(story, OWN_GROUP)
    dev = account_session(DEV_ACCOUNT)
    image, pushed = model_kinds.push_own_image(dev, OWN_DEV_REPOSITORY)
    print(f"pushed {image} ({len(pushed.blobs)} blobs, {sum(pushed.blobs.values())} B) "
          f"as {pushed.digest}")  # fmt: skip
    for stage in ("pre-prod", "prod"):  # what the stage's bootstrap creates (docs/interfaces.md)
        story.session(stage).client("ecr").create_repository(
            repositoryName=stage_repository(OWN_GROUP), imageTagMutability="IMMUTABLE"
        )
    arn = model_kinds.register(dev, group=OWN_GROUP, bucket=DEV_BUCKET,
                               container=model_kinds.own_container(image),
                               body=model_kinds.own_archive())  # fmt: skip
    story.build("pre-prod", model=folder)
    pre_prod_images = folder / "build" / "pre-prod" / "images.json"
    story.build("prod", "--model-package-arn", arn, "--images-from", str(pre_prod_images),
                model=folder)  # fmt: skip
    digests = {stage: _own_image(folder, stage) for stage in ("pre-prod", "prod")}
    print(text_table(("stage", "image the stage's package names"),
                     [(stage, uri) for stage, uri in digests.items()]))  # fmt: skip
    same = len({uri.split("@")[-1] for uri in digests.values()}) == 1
    story.succeeded &= same and digests["prod"].endswith(pushed.digest)
    print(f"  digest in pre-prod and prod: {pushed.digest} (same: {'yes' if same else 'NO'})")
    accuracy = score(story, folder, "own container (LOCAL_SERVE_COMMAND)", digests["pre-prod"])
    story.facts += [
        ("own image digest", f"{digests['prod'].split('@')[-1]} in pre-prod and prod "
                             f"(same: {'yes' if same else 'no'})"),
        ("own container accuracy", f"{accuracy:.1%} ({OWN_GROUP}, pre-prod)"),
    ]  # fmt: skip


def _own_image(folder: Path, stage: str) -> str:
    """The image the stage's package names (build/<stage>/images.json)."""
    document = json.loads((folder / "build" / stage / "images.json").read_text())
    (image,) = document["images"]
    return str(image["image"])
