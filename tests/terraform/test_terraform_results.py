"""The Glue table and the skip alarm agree with what the pipeline writes (partitions.py)."""

from __future__ import annotations

from typing import Any

from pipelines.steps import partitions


def test_glue_table_reads_the_authoritative_manifests_by_projected_date(
    root_module: dict[str, Any],
) -> None:
    # GIVEN the predictions table and the prefix it is built on
    table = root_module["resource"]["aws_glue_catalog_table"]["predictions"]
    prefix = root_module["locals"]["results_prefix"]
    parameters = table["parameters"]
    storage = table["storage_descriptor"][0]
    # THEN its partitions are exactly the manifests Publish writes, one per date, projected
    # (nothing to add per date), and it reads the listed Parquet files through the manifest
    assert prefix == '${trimsuffix(var.output_data_url, "/")}/' + partitions.AUTHORITATIVE + "/"
    example = partitions.manifest_url("s3://b/out/", "2026-11-25")
    assert example == f"s3://b/out/{partitions.AUTHORITATIVE}/dt=2026-11-25/{partitions.MANIFEST}"
    assert parameters["storage.location.template"] == "${local.results_prefix}dt=$${dt}/"
    assert [k["name"] for k in table["partition_keys"]] == ["dt"]
    assert parameters["projection.enabled"] == "true"
    assert parameters["projection.dt.type"] == "date"
    assert parameters["projection.dt.format"] == "yyyy-MM-dd"
    assert storage["input_format"] == "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat"
    assert storage["ser_de_info"][0]["serialization_library"].endswith("ParquetHiveSerDe")
    assert storage["location"] == "${local.results_prefix}"


def test_skip_alarm_watches_the_metric_preprocess_emits(root_module: dict[str, Any]) -> None:
    alarm = root_module["resource"]["aws_cloudwatch_metric_alarm"]["input_skipped"]
    assert (alarm["namespace"], alarm["metric_name"]) == (
        partitions.METRIC_NAMESPACE,
        partitions.SKIPPED_METRIC,
    )
    assert alarm["dimensions"] == {"PipelineName": "${aws_sagemaker_pipeline.this.pipeline_name}"}
    assert alarm["alarm_actions"] == ["${aws_sns_topic.alerts.arn}"]
