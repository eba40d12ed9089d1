################################################################################
# One stage's batch inference: the model promoted by build.py, the pipeline it
# rendered, a schedule that starts it, failure alerts and a dashboard.
################################################################################

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region
  account_id = data.aws_caller_identity.current.account_id

  # Applied to every taggable resource through the provider's default_tags (versions.tf).
  # The three deployment tags come last so var.tags cannot override them.
  tags = merge(var.tags, {
    Stage                     = var.stage
    ModelPackageGroup         = var.model_package_group_name
    SourceModelPackageVersion = tostring(var.source_model_package_version)
  })

  # Pipeline parameters the schedule passes, by name (docs/interfaces.md). RunDate is left out:
  # empty means the execution's start date.
  pipeline_parameters = {
    ModelName               = aws_sagemaker_model.this.name
    InputDataUrl            = var.input_data_url
    OutputDataUrl           = var.output_data_url
    ProcessingInstanceType  = var.processing_instance_type
    ProcessingInstanceCount = tostring(var.processing_instance_count)
    TransformInstanceType   = var.transform_instance_type
    TransformInstanceCount  = tostring(var.transform_instance_count)
  }

  # Base of every derived name (schedule and its group, role, queue, rule, topic, key alias,
  # alarms, dashboard): the pipeline name, or its first 45 characters and a hash when
  # "<name>-scheduler" would pass the 64 characters IAM roles, schedules and rules allow.
  name = length(var.pipeline_name) <= 54 ? var.pipeline_name : "${substr(var.pipeline_name, 0, 45)}-${substr(sha256(var.pipeline_name), 0, 8)}"

  create_alarm_email_subscription = var.alarm_email != null

  # Built from their parts so that the alerts key policy does not depend on the alarms (which
  # depend on the topic, which depends on the key).
  alarm_names = {
    pipeline_failed      = "${local.name}-execution-failed"
    schedule_dead_letter = "${local.name}-schedule-dlq-not-empty"
  }
  alarm_arns = [
    for alarm_name in values(local.alarm_names) :
    "arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:${alarm_name}"
  ]

  # 14 days, the SQS maximum: time to inspect an invocation the scheduler could not deliver.
  dead_letter_queue_retention_seconds = 1209600
  alarm_period_seconds                = 300
}

################################################################################
# SageMaker model and pipeline
################################################################################

resource "aws_sagemaker_model" "this" {
  #checkov:skip=CKV_AWS_370:a package may set an s3:// SAGEMAKER_SUBMIT_DIRECTORY that the serving container downloads at start; network isolation would block it
  name               = var.model_name
  execution_role_arn = var.sagemaker_execution_role_arn

  primary_container {
    model_package_name = var.model_package_arn
  }

  dynamic "vpc_config" {
    for_each = var.vpc_config == null ? [] : [var.vpc_config]

    content {
      subnets            = vpc_config.value.subnet_ids
      security_group_ids = vpc_config.value.security_group_ids
    }
  }

  # model_name changes with every promoted version: the new model exists before the
  # schedule switches to it, and the old one is deleted afterwards.
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_sagemaker_pipeline" "this" {
  pipeline_name         = var.pipeline_name
  pipeline_display_name = var.pipeline_name
  pipeline_description  = "Batch inference with ${var.model_package_group_name} version ${var.source_model_package_version} (${var.stage})."
  role_arn              = var.sagemaker_execution_role_arn

  # Inline, never from S3: the provider cannot update a pipeline whose definition lives in S3
  # (terraform-provider-aws issue 38259). Relative paths resolve from the repository root,
  # Terraform's working directory.
  pipeline_definition = file(var.pipeline_definition_file)
}

################################################################################
# Schedule: EventBridge Scheduler starts the pipeline
################################################################################

resource "aws_scheduler_schedule_group" "this" {
  name = local.name
}

resource "aws_sqs_queue" "schedule_dead_letter" {
  name                      = "${local.name}-schedule-dlq"
  message_retention_seconds = local.dead_letter_queue_retention_seconds
  sqs_managed_sse_enabled   = true
}

data "aws_iam_policy_document" "scheduler_assume_role" {
  statement {
    sid     = "SchedulerAssumesRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_scheduler_schedule_group.this.arn]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  name                 = "${local.name}-scheduler"
  description          = "EventBridge Scheduler starts the ${var.pipeline_name} pipeline."
  assume_role_policy   = data.aws_iam_policy_document.scheduler_assume_role.json
  permissions_boundary = var.permissions_boundary_arn
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    sid       = "StartThisPipeline"
    actions   = ["sagemaker:StartPipelineExecution"]
    resources = [aws_sagemaker_pipeline.this.arn]
  }

  statement {
    sid       = "SendToDeadLetterQueue"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.schedule_dead_letter.arn]
  }
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "start-pipeline"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}

resource "aws_scheduler_schedule" "this" {
  #checkov:skip=CKV_AWS_297:the schedule holds no secrets; a customer managed key would need kms:Decrypt on the scheduler role, which is kept to StartPipelineExecution and SendMessage
  name                         = local.name
  group_name                   = aws_scheduler_schedule_group.this.name
  description                  = "Starts the ${var.pipeline_name} pipeline with model ${aws_sagemaker_model.this.name}."
  schedule_expression          = var.schedule_expression
  schedule_expression_timezone = var.schedule_timezone
  state                        = var.schedule_enabled ? "ENABLED" : "DISABLED"

  flexible_time_window {
    mode                      = "FLEXIBLE"
    maximum_window_in_minutes = var.schedule_flexible_time_window_minutes
  }

  target {
    arn      = aws_sagemaker_pipeline.this.arn
    role_arn = aws_iam_role.scheduler.arn

    dead_letter_config {
      arn = aws_sqs_queue.schedule_dead_letter.arn
    }

    retry_policy {
      maximum_retry_attempts       = var.schedule_retry_policy.maximum_retry_attempts
      maximum_event_age_in_seconds = var.schedule_retry_policy.maximum_event_age_in_seconds
    }

    sagemaker_pipeline_parameters {
      dynamic "pipeline_parameter" {
        for_each = local.pipeline_parameters

        content {
          name  = pipeline_parameter.key
          value = pipeline_parameter.value
        }
      }
    }
  }

  # The role must be able to start the pipeline before the first invocation.
  depends_on = [aws_iam_role_policy.scheduler]
}

################################################################################
# Failure alerts: EventBridge rule and CloudWatch alarms to an encrypted SNS topic
################################################################################

data "aws_iam_policy_document" "alerts_key" {
  #checkov:skip=CKV_AWS_109:key policy; "*" is this key and the account root keeps administering it, as AWS's default key policy does
  #checkov:skip=CKV_AWS_111:key policy; "*" is this key and the account root keeps administering it, as AWS's default key policy does
  #checkov:skip=CKV_AWS_356:key policy; "*" is this key and the account root keeps administering it, as AWS's default key policy does
  statement {
    sid       = "AccountAdministersKey"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  # CloudWatch may use the key only for this stage's alarms in this account (confused deputy).
  statement {
    sid       = "AlarmsUseKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = local.alarm_arns
    }
  }

  # No aws:SourceAccount / aws:SourceArn here: the Amazon SNS Developer Guide (key management,
  # "Enable compatibility between event sources from AWS services and encrypted topics") says they
  # are not supported in a KMS key policy for EventBridge-to-encrypted-topic delivery; with them
  # every failure alert would be dropped. The topic policy limits publishing to the failure rule.
  statement {
    sid       = "FailureRuleUsesKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
  }
}

resource "aws_kms_key" "alerts" {
  description             = "Encrypts the ${var.pipeline_name} alerts topic."
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.alerts_key.json
}

resource "aws_kms_alias" "alerts" {
  name          = "alias/${local.name}-alerts"
  target_key_id = aws_kms_key.alerts.key_id
}

resource "aws_sns_topic" "alerts" {
  name              = "${local.name}-alerts"
  display_name      = "${local.name} alerts"
  kms_master_key_id = aws_kms_key.alerts.arn
}

data "aws_iam_policy_document" "alerts_topic" {
  statement {
    sid = "AccountManagesTopic"
    actions = [
      "sns:GetTopicAttributes",
      "sns:SetTopicAttributes",
      "sns:AddPermission",
      "sns:RemovePermission",
      "sns:DeleteTopic",
      "sns:Subscribe",
      "sns:ListSubscriptionsByTopic",
      "sns:Publish",
    ]
    resources = [aws_sns_topic.alerts.arn]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "FailureRulePublishes"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.pipeline_failed.arn]
    }
  }

  statement {
    sid       = "AlarmsPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values = [
        aws_cloudwatch_metric_alarm.pipeline_failed.arn,
        aws_cloudwatch_metric_alarm.schedule_dead_letter.arn,
      ]
    }
  }
}

resource "aws_sns_topic_policy" "alerts" {
  arn    = aws_sns_topic.alerts.arn
  policy = data.aws_iam_policy_document.alerts_topic.json
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count = local.create_alarm_email_subscription ? 1 : 0

  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

resource "aws_cloudwatch_event_rule" "pipeline_failed" {
  name        = "${local.name}-failed"
  description = "An execution of the ${var.pipeline_name} pipeline failed."

  event_pattern = jsonencode({
    source        = ["aws.sagemaker"]
    "detail-type" = ["SageMaker Model Building Pipeline Execution Status Change"]
    detail = {
      currentPipelineExecutionStatus = ["Failed"]
      pipelineArn                    = [aws_sagemaker_pipeline.this.arn]
    }
  })
}

resource "aws_cloudwatch_event_target" "pipeline_failed" {
  rule      = aws_cloudwatch_event_rule.pipeline_failed.name
  target_id = "alerts-topic"
  arn       = aws_sns_topic.alerts.arn

  input_transformer {
    input_paths = {
      execution = "$.detail.pipelineExecutionArn"
      time      = "$.time"
    }
    input_template = "\"${var.stage}: SageMaker pipeline execution <execution> failed at <time>.\""
  }
}

resource "aws_cloudwatch_metric_alarm" "pipeline_failed" {
  alarm_name          = local.alarm_names.pipeline_failed
  alarm_description   = "An execution of the ${var.pipeline_name} pipeline (${var.stage}) failed."
  namespace           = "AWS/Sagemaker/ModelBuildingPipeline"
  metric_name         = "ExecutionFailed"
  dimensions          = { PipelineName = aws_sagemaker_pipeline.this.pipeline_name }
  statistic           = "Sum"
  period              = local.alarm_period_seconds
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
}

resource "aws_cloudwatch_metric_alarm" "schedule_dead_letter" {
  alarm_name          = local.alarm_names.schedule_dead_letter
  alarm_description   = "The schedule could not start the ${var.pipeline_name} pipeline (${var.stage}); see its dead-letter queue."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.schedule_dead_letter.name }
  statistic           = "Maximum"
  period              = local.alarm_period_seconds
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
}

################################################################################
# Dashboard
################################################################################

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = local.name

  dashboard_body = jsonencode({
    widgets = [
      {
        type   = "metric"
        x      = 0
        y      = 0
        width  = 8
        height = 6
        properties = {
          title  = "Pipeline executions"
          region = local.region
          view   = "timeSeries"
          stat   = "Sum"
          period = 3600
          metrics = [
            ["AWS/Sagemaker/ModelBuildingPipeline", "ExecutionSucceeded", "PipelineName", aws_sagemaker_pipeline.this.pipeline_name, { label = "Succeeded", color = "#2ca02c" }],
            ["AWS/Sagemaker/ModelBuildingPipeline", "ExecutionFailed", "PipelineName", aws_sagemaker_pipeline.this.pipeline_name, { label = "Failed", color = "#d62728" }],
          ]
        }
      },
      {
        type   = "metric"
        x      = 8
        y      = 0
        width  = 8
        height = 6
        properties = {
          title  = "Pipeline execution duration (ms)"
          region = local.region
          view   = "timeSeries"
          period = 3600
          metrics = [
            ["AWS/Sagemaker/ModelBuildingPipeline", "ExecutionDuration", "PipelineName", aws_sagemaker_pipeline.this.pipeline_name, { stat = "Average", label = "Average" }],
            ["AWS/Sagemaker/ModelBuildingPipeline", "ExecutionDuration", "PipelineName", aws_sagemaker_pipeline.this.pipeline_name, { stat = "Maximum", label = "Maximum" }],
          ]
        }
      },
      {
        type   = "alarm"
        x      = 16
        y      = 0
        width  = 8
        height = 6
        properties = {
          title = "Alarms"
          alarms = [
            aws_cloudwatch_metric_alarm.pipeline_failed.arn,
            aws_cloudwatch_metric_alarm.schedule_dead_letter.arn,
          ]
        }
      },
      {
        type   = "metric"
        x      = 0
        y      = 6
        width  = 12
        height = 6
        properties = {
          title  = "Schedule invocations"
          region = local.region
          view   = "timeSeries"
          stat   = "Sum"
          period = 3600
          metrics = [
            ["AWS/Scheduler", "InvocationAttemptCount", "ScheduleGroup", aws_scheduler_schedule_group.this.name, { label = "Invocation attempts" }],
            ["AWS/Scheduler", "TargetErrorCount", "ScheduleGroup", aws_scheduler_schedule_group.this.name, { label = "Target errors" }],
            ["AWS/Scheduler", "InvocationDroppedCount", "ScheduleGroup", aws_scheduler_schedule_group.this.name, { label = "Dropped invocations" }],
            ["AWS/Scheduler", "InvocationsSentToDeadLetterCount", "ScheduleGroup", aws_scheduler_schedule_group.this.name, { label = "Sent to dead-letter queue" }],
          ]
        }
      },
      {
        type   = "metric"
        x      = 12
        y      = 6
        width  = 12
        height = 6
        properties = {
          title  = "Schedule dead-letter queue depth"
          region = local.region
          view   = "timeSeries"
          stat   = "Maximum"
          period = 300
          metrics = [
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.schedule_dead_letter.name, { label = "Messages" }],
          ]
        }
      },
    ]
  })
}
