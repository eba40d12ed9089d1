# The stage module applied by the real Terraform with the real AWS provider's plan, every
# resource's apply replaced by an override (no AWS call): the policy documents that depend on
# new resources are only read at apply, from the ARNs the resources got. Run by
# tests/terraform/test_terraform_module.py. Every managed resource of the module is listed
# below; one that is not would reach AWS with offline credentials and fail the test.

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "offline"
  secret_key                  = "offline"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
}

override_data {
  target = data.aws_caller_identity.current
  values = { account_id = "222222222222" }
}

override_resource {
  target = aws_sagemaker_model.this
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
  values = {
    arn = "arn:aws:sqs:us-east-1:222222222222:churn-model-pre-prod-batch-inference-schedule-dlq"
    url = "https://sqs.us-east-1.amazonaws.com/222222222222/churn-model-pre-prod-batch-inference-schedule-dlq"
  }
}

override_resource {
  target = aws_iam_role.scheduler
  values = { arn = "arn:aws:iam::222222222222:role/churn-model-pre-prod-batch-inference-scheduler" }
}

override_resource {
  target = aws_iam_role_policy.scheduler
}

override_resource {
  target = aws_scheduler_schedule.this
}

override_resource {
  target = aws_sns_topic.alerts
  values = { arn = "arn:aws:sns:us-east-1:222222222222:churn-model-pre-prod-batch-inference-alerts" }
}

override_resource {
  target = aws_sns_topic_policy.alerts
}

override_resource {
  target = aws_sns_topic_subscription.alarm_email
}

override_resource {
  target = aws_cloudwatch_event_rule.pipeline_failed
  values = { arn = "arn:aws:events:us-east-1:222222222222:rule/churn-model-pre-prod-batch-inference-failed" }
}

override_resource {
  target = aws_cloudwatch_event_target.pipeline_failed
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
  target = aws_cloudwatch_metric_alarm.input_skipped
  values = { arn = "arn:aws:cloudwatch:us-east-1:222222222222:alarm:churn-model-pre-prod-batch-inference-input-skipped" }
}

override_resource {
  target = aws_cloudwatch_metric_alarm.data_quality
  values = { arn = "arn:aws:cloudwatch:us-east-1:222222222222:alarm:churn-model-pre-prod-batch-inference-data-quality" }
}

override_resource {
  target = aws_glue_catalog_database.results
}

override_resource {
  target = aws_glue_catalog_table.predictions
}

override_resource {
  target = aws_cloudwatch_dashboard.this
}

override_resource {
  target = module.alerts_key.aws_kms_key.this
  values = {
    arn    = "arn:aws:kms:us-east-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    key_id = "1234abcd-12ab-34cd-56ef-1234567890ab"
  }
}

override_resource {
  target = module.alerts_key.aws_kms_alias.this
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
    # A team's tags, one of them trying to override a deployment tag.
    tags = { team = "ml", Stage = "dev" }
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

run "scheduler_role_starts_this_pipeline_only" {
  command = apply

  assert {
    condition = jsondecode(aws_iam_role.scheduler.assume_role_policy).Statement == [{
      Sid       = "SchedulerAssumesRole"
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "scheduler.amazonaws.com" }
      Condition = {
        StringEquals = { "aws:SourceAccount" = "222222222222" }
        ArnEquals    = { "aws:SourceArn" = aws_scheduler_schedule_group.this.arn }
      }
    }]
    error_message = "the scheduler role's trust: ${aws_iam_role.scheduler.assume_role_policy}"
  }

  assert {
    condition = [for s in jsondecode(aws_iam_role_policy.scheduler.policy).Statement : [s.Effect, s.Action, s.Resource]] == [
      ["Allow", "sagemaker:StartPipelineExecution", aws_sagemaker_pipeline.this.arn],
      ["Allow", "sqs:SendMessage", aws_sqs_queue.schedule_dead_letter.arn],
    ]
    error_message = "the scheduler role's policy: ${aws_iam_role_policy.scheduler.policy}"
  }

  assert {
    condition     = aws_iam_role.scheduler.permissions_boundary == var.config.permissions_boundary_arn && aws_iam_role_policy.scheduler.role == aws_iam_role.scheduler.id
    error_message = "the scheduler role must carry the stage's permissions boundary"
  }
}

run "only_this_stages_rule_and_alarms_publish_to_the_topic" {
  command = apply

  assert {
    condition = {
      for s in jsondecode(aws_sns_topic_policy.alerts.policy).Statement : s.Sid => [s.Principal, s.Action, try(s.Condition.ArnEquals["aws:SourceArn"], null)]
      } == {
      AccountManagesTopic  = [{ AWS = "arn:aws:iam::222222222222:root" }, jsondecode(aws_sns_topic_policy.alerts.policy).Statement[0].Action, null]
      FailureRulePublishes = [{ Service = "events.amazonaws.com" }, "sns:Publish", aws_cloudwatch_event_rule.pipeline_failed.arn]
      AlarmsPublish = [{ Service = "cloudwatch.amazonaws.com" }, "sns:Publish", [
        aws_cloudwatch_metric_alarm.pipeline_failed.arn,
        aws_cloudwatch_metric_alarm.schedule_dead_letter.arn,
        aws_cloudwatch_metric_alarm.data_quality.arn,
        aws_cloudwatch_metric_alarm.input_skipped.arn,
      ]]
    }
    error_message = "the alerts topic policy: ${aws_sns_topic_policy.alerts.policy}"
  }
}
