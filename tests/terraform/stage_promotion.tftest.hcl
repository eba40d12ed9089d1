# A stage that runs one version, promoted to the next: the plan a reviewer reads shows the
# scheduler's trust and permissions and the alerts topic's policy in full, unchanged, never
# "(known after apply)". A mock provider applies the first version (no AWS); the ARNs AWS would
# assign are given, and each resource's postcondition holds them equal to the ones its policies name.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "222222222222" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  # A mock's random text is no JSON (modules/kms-key decodes one).
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\": \"2012-10-17\", \"Statement\": []}" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:us-east-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::222222222222:role/churn-model-pre-prod-batch-inference-scheduler" }
  }
}

override_resource {
  target = aws_sagemaker_pipeline.this
  values = { arn = "arn:aws:sagemaker:us-east-1:222222222222:pipeline/churn-model-pre-prod-batch-inference" }
}

override_resource {
  target = aws_scheduler_schedule_group.this
  values = { arn = "arn:aws:scheduler:us-east-1:222222222222:schedule-group/churn-model-pre-prod-batch-inference" }
}

override_resource {
  target = aws_sqs_queue.schedule_dead_letter
  values = { arn = "arn:aws:sqs:us-east-1:222222222222:churn-model-pre-prod-batch-inference-schedule-dlq" }
}

override_resource {
  target = aws_sns_topic.alerts
  values = { arn = "arn:aws:sns:us-east-1:222222222222:churn-model-pre-prod-batch-inference-alerts" }
}

override_resource {
  target = aws_cloudwatch_event_rule.pipeline_failed
  values = { arn = "arn:aws:events:us-east-1:222222222222:rule/churn-model-pre-prod-batch-inference-failed" }
}

override_resource {
  target = aws_cloudwatch_metric_alarm.pipeline_failed
  values = { arn = "arn:aws:cloudwatch:us-east-1:222222222222:alarm:churn-model-pre-prod-batch-inference-execution-failed" }
}

override_resource {
  target = aws_cloudwatch_metric_alarm.schedule_dead_letter
  values = { arn = "arn:aws:cloudwatch:us-east-1:222222222222:alarm:churn-model-pre-prod-batch-inference-schedule-dlq-not-empty" }
}

override_resource {
  target = aws_cloudwatch_metric_alarm.data_quality
  values = { arn = "arn:aws:cloudwatch:us-east-1:222222222222:alarm:churn-model-pre-prod-batch-inference-data-quality" }
}

override_resource {
  target = aws_cloudwatch_metric_alarm.input_skipped
  values = { arn = "arn:aws:cloudwatch:us-east-1:222222222222:alarm:churn-model-pre-prod-batch-inference-input-skipped" }
}

variables {
  config = {
    stage                        = "pre-prod"
    account_id                   = "222222222222"
    region                       = "us-east-1"
    source_account_id            = "111111111111"
    model_package_group_name     = "churn-model"
    artifacts_bucket             = "churn-artifacts-222222222222"
    sagemaker_execution_role_arn = "arn:aws:iam::222222222222:role/churn-execution"
    input_data_url               = "s3://churn-data-222222222222/input/"
    output_data_url              = "s3://churn-data-222222222222/predictions/"
    permissions_boundary_arn     = "arn:aws:iam::222222222222:policy/churn-model-boundary-pre-prod"
  }
  deployment = {
    model_package_arn            = "arn:aws:sagemaker:us-east-1:222222222222:model-package/churn-model/1"
    source_model_package_arn     = "arn:aws:sagemaker:us-east-1:111111111111:model-package/churn-model/3"
    source_model_package_version = 3
    model_name                   = "churn-model-pre-prod-v3"
    pipeline_name                = "churn-model-pre-prod-batch-inference"
    pipeline_definition_file     = "tests/terraform/pipeline-definition.fixture.json"
  }
}

run "the_stage_runs_version_3" {
  command = apply
}

run "promoting_version_4_plans_every_policy_in_full" {
  command = plan

  variables {
    deployment = {
      model_package_arn            = "arn:aws:sagemaker:us-east-1:222222222222:model-package/churn-model/2"
      source_model_package_arn     = "arn:aws:sagemaker:us-east-1:111111111111:model-package/churn-model/4"
      source_model_package_version = 4
      model_name                   = "churn-model-pre-prod-v4"
      pipeline_name                = "churn-model-pre-prod-batch-inference"
      pipeline_definition_file     = "tests/terraform/pipeline-definition.fixture.json"
    }
  }

  # Each policy is read at plan time: an unknown one ("(known after apply)") fails this run.
  assert {
    condition     = aws_iam_role.scheduler.assume_role_policy == data.aws_iam_policy_document.scheduler_assume_role.json
    error_message = "the scheduler role's trust policy is not in the plan"
  }

  assert {
    condition     = aws_iam_role_policy.scheduler.policy == data.aws_iam_policy_document.scheduler.json
    error_message = "the scheduler role's permissions are not in the plan"
  }

  assert {
    condition     = aws_sns_topic_policy.alerts.policy == data.aws_iam_policy_document.alerts_topic.json
    error_message = "the alerts topic's policy is not in the plan"
  }
}
