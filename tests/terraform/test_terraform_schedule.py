"""The stage's resources as written: model, pipeline, schedule, alerts and dashboard."""

from __future__ import annotations

from typing import Any


def resource(module: dict[str, Any], type_name: str, name: str = "this") -> dict[str, Any]:
    body = module["resource"].get(type_name, {}).get(name)
    assert body is not None, f"resource {type_name}.{name} is missing"
    return dict(body)


def policy_statements(module: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return list(module["data"]["aws_iam_policy_document"][name]["statement"])


def schedule_parameters(module: dict[str, Any]) -> dict[str, str]:
    """Name -> value expression of the pipeline parameters in the universal target's request:
    the local map it is built from, plus ScheduledTime (the scheduler's context attribute)."""
    target = resource(module, "aws_scheduler_schedule")["target"][0]
    assert target["input"] == "${local.schedule_input}"
    request = module["locals"]["schedule_input"]
    assert "local.pipeline_parameters" in request and "ScheduledTime" in request
    return {**module["locals"]["pipeline_parameters"], "ScheduledTime": "${local.scheduled_time}"}


def test_schedule_request_keeps_the_context_attribute_and_a_tick_token(
    root_module: dict[str, Any],
) -> None:
    # GIVEN the universal target's request expression
    locals_ = root_module["locals"]
    request = locals_["schedule_input"]
    # THEN it names the pipeline, puts back the < > that jsonencode escapes, and derives the
    # ClientRequestToken from the scheduled time (one execution per tick across retries)
    assert "PipelineName" in request and "var.pipeline_name" in request
    assert r'"\\u003c", "<"' in request and r'"\\u003e", ">"' in request
    assert locals_["scheduled_time"] == "<aws.scheduler.scheduled-time>"
    assert "ClientRequestToken" in request
    assert "local.schedule_token_prefix" in request and "local.scheduled_time" in request
    # AND the token fits StartPipelineExecution's 32-128 characters
    prefix = len("tick-") + 16 + 1
    assert 32 <= prefix + len("2026-11-26T03:00:00Z") <= 128


def test_rendered_definition_declares_the_interface_parameters(
    pipeline_parameter_names: set[str], interface_parameters: frozenset[str]
) -> None:
    # A rendered definition (the fixture, or the real renderer's) declares the interface's names.
    assert interface_parameters <= pipeline_parameter_names


def test_schedule_parameter_names_are_parameters_of_a_rendered_definition(
    root_module: dict[str, Any], pipeline_parameter_names: set[str]
) -> None:
    # GIVEN the parameters the schedule passes
    passed = set(schedule_parameters(root_module))

    # THEN each is a parameter of the rendered definition (StartPipelineExecution rejects others)
    assert passed, "the schedule passes no parameter"
    assert passed - pipeline_parameter_names == set()


def test_schedule_passes_the_model_inputs_and_instance_settings(
    root_module: dict[str, Any],
) -> None:
    parameters = schedule_parameters(root_module)
    assert parameters["InputDataUrl"] == "${var.input_data_url}"
    assert parameters["OutputDataUrl"] == "${var.output_data_url}"
    assert parameters["ProcessingInstanceType"] == "${var.processing_instance_type}"
    assert parameters["ProcessingInstanceCount"] == "${tostring(var.processing_instance_count)}"
    assert parameters["TransformInstanceType"] == "${var.transform_instance_type}"
    assert parameters["TransformInstanceCount"] == "${tostring(var.transform_instance_count)}"


def test_schedule_model_name_is_the_model_resource(root_module: dict[str, Any]) -> None:
    # GIVEN the ModelName the schedule passes
    model_name = schedule_parameters(root_module)["ModelName"]

    # THEN it is the SageMaker model this module creates, not a placeholder or a variable
    assert model_name == "${aws_sagemaker_model.this.name}"
    resource(root_module, "aws_sagemaker_model")


def test_schedule_targets_this_pipeline_with_retries_and_a_dead_letter_queue(
    root_module: dict[str, Any],
) -> None:
    schedule = resource(root_module, "aws_scheduler_schedule")
    target = schedule["target"][0]
    assert target["arn"] == (
        "arn:${local.partition}:scheduler:::aws-sdk:sagemaker:startPipelineExecution"
    )
    assert target["role_arn"] == "${aws_iam_role.scheduler.arn}"
    assert target["dead_letter_config"][0]["arn"] == "${aws_sqs_queue.schedule_dead_letter.arn}"
    assert set(target["retry_policy"][0]) == {
        "maximum_retry_attempts",
        "maximum_event_age_in_seconds",
    }
    assert schedule["flexible_time_window"][0]["mode"] == "FLEXIBLE"
    assert schedule["schedule_expression"] == "${var.schedule_expression}"
    assert schedule["schedule_expression_timezone"] == "${var.schedule_timezone}"
    assert schedule["state"] == '${var.schedule_enabled ? "ENABLED" : "DISABLED"}'


def test_scheduler_role_may_only_start_this_pipeline_and_send_to_its_queue(
    root_module: dict[str, Any],
) -> None:
    # GIVEN the scheduler role's only policy
    policy = resource(root_module, "aws_iam_role_policy", "scheduler")
    assert policy["role"] == "${aws_iam_role.scheduler.id}"
    assert policy["policy"] == "${data.aws_iam_policy_document.scheduler.json}"
    attached = root_module["resource"].get("aws_iam_role_policy_attachment", {})
    assert not attached, "the scheduler role must not get managed policies"

    # THEN it allows exactly two actions, each on one resource of this module
    grants = {
        (action, resource_arn)
        for statement in policy_statements(root_module, "scheduler")
        for action in statement["actions"]
        for resource_arn in statement["resources"]
    }
    assert grants == {
        ("sagemaker:StartPipelineExecution", "${aws_sagemaker_pipeline.this.arn}"),
        ("sqs:SendMessage", "${aws_sqs_queue.schedule_dead_letter.arn}"),
    }
    assert all(
        s.get("effect", "Allow") == "Allow" for s in policy_statements(root_module, "scheduler")
    )


def test_scheduler_role_is_assumable_only_by_this_accounts_scheduler(
    root_module: dict[str, Any],
) -> None:
    (statement,) = policy_statements(root_module, "scheduler_assume_role")
    assert statement["principals"][0]["identifiers"] == ["scheduler.amazonaws.com"]
    conditions = {c["variable"]: c["values"] for c in statement["condition"]}
    assert conditions["aws:SourceAccount"] == ["${local.account_id}"]


def test_dead_letter_queue_is_encrypted(root_module: dict[str, Any]) -> None:
    queue = resource(root_module, "aws_sqs_queue", "schedule_dead_letter")
    assert queue.get("sqs_managed_sse_enabled") is True or queue.get("kms_master_key_id")


def test_pipeline_definition_is_inline_from_the_rendered_file(root_module: dict[str, Any]) -> None:
    pipeline = resource(root_module, "aws_sagemaker_pipeline")
    assert pipeline["pipeline_definition"] == "${file(var.pipeline_definition_file)}"
    assert "pipeline_definition_s3_location" not in pipeline
    assert pipeline["pipeline_name"] == "${var.pipeline_name}"
    assert pipeline["role_arn"] == "${var.sagemaker_execution_role_arn}"


def test_model_comes_from_the_promoted_package(root_module: dict[str, Any]) -> None:
    model = resource(root_module, "aws_sagemaker_model")
    assert model["name"] == "${var.model_name}"
    assert model["primary_container"] == [{"model_package_name": "${var.model_package_arn}"}]
    assert model["execution_role_arn"] == "${var.sagemaker_execution_role_arn}"
    assert model["lifecycle"][0]["create_before_destroy"] is True
    (vpc,) = model["dynamic"]
    assert vpc["vpc_config"]["for_each"] == "${var.vpc_config == null ? [] : [var.vpc_config]}"


def test_failure_rule_matches_failed_executions_of_this_pipeline(
    root_module: dict[str, Any],
) -> None:
    rule = resource(root_module, "aws_cloudwatch_event_rule", "pipeline_failed")
    pattern = rule["event_pattern"]  # a jsonencode(...) expression, kept as one string
    assert (
        '"detail-type" = ["SageMaker Model Building Pipeline Execution Status Change"]' in pattern
    )
    assert 'source = ["aws.sagemaker"]' in pattern
    assert 'currentPipelineExecutionStatus = ["Failed"]' in pattern
    assert "pipelineArn = [aws_sagemaker_pipeline.this.arn]" in pattern
    target = resource(root_module, "aws_cloudwatch_event_target", "pipeline_failed")
    assert target["rule"] == "${aws_cloudwatch_event_rule.pipeline_failed.name}"
    assert target["arn"] == "${aws_sns_topic.alerts.arn}"


def test_failed_executions_alarm_notifies_the_topic(root_module: dict[str, Any]) -> None:
    alarm = resource(root_module, "aws_cloudwatch_metric_alarm", "pipeline_failed")
    assert alarm["namespace"] == "AWS/Sagemaker/ModelBuildingPipeline"
    assert alarm["metric_name"] == "ExecutionFailed"
    assert alarm["dimensions"] == {"PipelineName": "${aws_sagemaker_pipeline.this.pipeline_name}"}
    assert alarm["alarm_actions"] == ["${aws_sns_topic.alerts.arn}"]


def test_topic_is_encrypted_with_a_key_alert_publishers_may_use(
    root_module: dict[str, Any],
) -> None:
    topic = resource(root_module, "aws_sns_topic", "alerts")
    assert topic["kms_master_key_id"] == "${aws_kms_key.alerts.arn}"
    key = resource(root_module, "aws_kms_key", "alerts")
    assert key["enable_key_rotation"] is True
    assert key["policy"] == "${data.aws_iam_policy_document.alerts_key.json}"
    publishers = [
        s
        for s in policy_statements(root_module, "alerts_key")
        if s["principals"][0]["type"] == "Service"
    ]
    assert {i for s in publishers for i in s["principals"][0]["identifiers"]} == {
        "events.amazonaws.com",
        "cloudwatch.amazonaws.com",
    }
    assert {a for s in publishers for a in s["actions"]} == {"kms:Decrypt", "kms:GenerateDataKey*"}


def test_topic_policy_lets_the_failure_rule_publish(root_module: dict[str, Any]) -> None:
    policy = resource(root_module, "aws_sns_topic_policy", "alerts")
    assert policy["arn"] == "${aws_sns_topic.alerts.arn}"
    events = [
        s
        for s in policy_statements(root_module, "alerts_topic")
        if s["principals"][0]["identifiers"] == ["events.amazonaws.com"]
    ]
    assert len(events) == 1
    assert events[0]["actions"] == ["sns:Publish"]
    assert events[0]["condition"][0]["values"] == [
        "${aws_cloudwatch_event_rule.pipeline_failed.arn}"
    ]


def test_email_subscription_exists_only_with_an_alarm_email(root_module: dict[str, Any]) -> None:
    subscription = resource(root_module, "aws_sns_topic_subscription", "alarm_email")
    assert subscription["count"] == "${local.create_alarm_email_subscription ? 1 : 0}"
    assert root_module["locals"]["create_alarm_email_subscription"] == "${var.alarm_email != null}"
    assert subscription["endpoint"] == "${var.alarm_email}"
    assert subscription["protocol"] == "email"


def test_dashboard_shows_executions_schedule_queue_and_alarms(root_module: dict[str, Any]) -> None:
    body = resource(root_module, "aws_cloudwatch_dashboard")["dashboard_body"]
    for metric in ("ExecutionSucceeded", "ExecutionFailed", "ExecutionDuration"):
        assert f'["AWS/Sagemaker/ModelBuildingPipeline", "{metric}", "PipelineName"' in body
    for metric in ("InvocationAttemptCount", "TargetErrorCount", "InvocationDroppedCount"):
        assert f'["AWS/Scheduler", "{metric}", "ScheduleGroup"' in body
    assert '["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName"' in body
    assert 'type = "alarm"' in body
    assert "aws_cloudwatch_metric_alarm.pipeline_failed.arn" in body


def test_names_with_a_64_character_limit_use_the_shortened_base(
    root_module: dict[str, Any],
) -> None:
    # IAM roles, schedules, schedule groups and rules allow 64 characters; pipeline names 256.
    limited = {
        ("aws_iam_role", "scheduler"),
        ("aws_scheduler_schedule", "this"),
        ("aws_scheduler_schedule_group", "this"),
        ("aws_cloudwatch_event_rule", "pipeline_failed"),
    }
    for type_name, name in limited:
        assert resource(root_module, type_name, name)["name"].startswith("${local.name}")


def test_outputs_name_the_deployed_resources(root_module: dict[str, Any]) -> None:
    outputs = root_module["output"]
    assert (
        outputs["sagemaker_pipeline_name"]["value"]
        == "${aws_sagemaker_pipeline.this.pipeline_name}"
    )
    assert outputs["sagemaker_pipeline_arn"]["value"] == "${aws_sagemaker_pipeline.this.arn}"
    assert outputs["sagemaker_model_name"]["value"] == "${aws_sagemaker_model.this.name}"
    assert outputs["scheduler_schedule_name"]["value"] == "${aws_scheduler_schedule.this.name}"
    assert outputs["sns_topic_arn"]["value"] == "${aws_sns_topic.alerts.arn}"
    assert outputs["cloudwatch_dashboard_name"]["value"] == (
        "${aws_cloudwatch_dashboard.this.dashboard_name}"
    )
    assert all(body.get("description") for body in outputs.values())
