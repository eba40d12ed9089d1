################################################################################
# One stage's batch inference: the model promoted by build.py, the pipeline it
# rendered, a schedule that starts it, failure alerts and a dashboard.
################################################################################

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition = data.aws_partition.current.partition
  # The provider's region is config.region (the root's provider block); the aws_region data source
  # would echo it under an attribute provider 5.x calls `name` and 6.x `region`.
  region     = var.config.region
  account_id = data.aws_caller_identity.current.account_id

  # build.py names the rendered definition relative to the repository root, where Terraform runs
  # (path.cwd: before any -chdir, so a root in a subdirectory reads the same file).
  definition_file     = var.deployment.pipeline_definition_file
  pipeline_definition = file(startswith(local.definition_file, "/") ? local.definition_file : "${path.cwd}/${local.definition_file}")

  # Every taggable resource sets `tags = local.tags` itself, whatever the root's provider does:
  # bootstrap's IAM policies require ModelPackageGroup and Stage on creation (aws:RequestTag on
  # CreateModel, CreateKey, ...). The deployment tags come last so config.tags cannot override
  # them. Only the promoted version's own resources (the model and the pipeline) carry its
  # number: on the stage's standing resources (key, topic, queue, role, alarms, ...) it would make
  # every promotion's plan, the one prod's reviewer reads, update them all for a tag.
  tags = merge(var.config.tags, {
    Stage             = var.config.stage
    ModelPackageGroup = var.config.model_package_group_name
  })
  version_tags = merge(local.tags, {
    SourceModelPackageVersion = tostring(var.deployment.source_model_package_version)
  })

  # Pipeline parameters the schedule passes, by name (docs/interfaces.md). RunDate is left out:
  # the run's date is ScheduledTime's date minus input_lag_days (docs/schedules.md).
  pipeline_parameters = {
    ModelName               = aws_sagemaker_model.this.name
    InputDataUrl            = var.config.input_data_url
    OutputDataUrl           = var.config.output_data_url
    ProcessingInstanceType  = var.config.processing_instance_type
    ProcessingInstanceCount = tostring(var.config.processing_instance_count)
    TransformInstanceType   = var.config.transform_instance_type
    TransformInstanceCount  = tostring(var.config.transform_instance_count)
  }

  # EventBridge Scheduler replaces this keyword in a target's Input with the tick's time
  # (2026-11-26T03:00:00Z), the same for every retry of that tick.
  scheduled_time = "<aws.scheduler.scheduled-time>"
  # StartPipelineExecution's ClientRequestToken (32-128 characters): one execution per tick,
  # however often the scheduler retries the call.
  schedule_token_prefix = "tick-${substr(sha256(var.deployment.pipeline_name), 0, 16)}-"
  # The universal target's request. jsonencode writes < and > as \u003c and \u003e; the
  # scheduler only recognises the keyword written plainly, so they are put back.
  schedule_input = replace(replace(jsonencode({
    PipelineName       = var.deployment.pipeline_name
    ClientRequestToken = "${local.schedule_token_prefix}${local.scheduled_time}"
    PipelineParameters = [
      for name, value in merge(local.pipeline_parameters, { ScheduledTime = local.scheduled_time }) :
      { Name = name, Value = value }
    ]
  }), "\\u003c", "<"), "\\u003e", ">")

  # Results for SQL: a Glue database per stage (names: lower case, digits, underscores).
  results_database = replace(lower(local.name), "/[^a-z0-9_]/", "_")
  results_prefix   = "${trimsuffix(var.config.output_data_url, "/")}/_authoritative/"
  # The table declares every column in lower case: Glue stores column names lower-cased, so a
  # mixed-case name (userId) would show a diff on every plan ("Name databases, tables, and
  # columns", Amazon Athena User Guide: names in Glue are lower case, Athena lower-cases them).
  # The Parquet files keep the stage file's case: Athena reads Parquet columns by name ("Handling
  # schema updates", same guide), matching the file's field case-insensitively (Trino's and
  # Presto's ParquetTypeUtils.getParquetTypeByName, which Athena's engine is built on). Names
  # equal once lower-cased are refused (variables.tf, promotion/config.py).
  results_id_columns = var.config.id_column == null ? [
    { name = "source_file", type = "string" },
    { name = "row_number", type = "bigint" },
  ] : [{ name = lower(var.config.id_column), type = "string" }]
  # Each prediction column is "name" or "name:type" (double when not given): the type
  # Postprocess writes, so the Parquet files and the table agree.
  results_prediction_columns = [
    for entry in coalesce(var.config.prediction_columns, ["prediction"]) : {
      name = lower(split(":", entry)[0])
      type = try(split(":", entry)[1], "double")
    }
  ]
  results_columns = concat(local.results_id_columns, local.results_prediction_columns, [
    { name = "model_package_version", type = "bigint" },
    { name = "execution_id", type = "string" },
    { name = "run_date", type = "date" },
  ])

  # Base of every derived name (schedule and its group, role, queue, rule, topic, key alias,
  # alarms, dashboard): the pipeline name, or its first 45 characters and a hash when
  # "<name>-scheduler" would pass the 64 characters IAM roles, schedules and rules allow.
  # bootstrap/stage derives the same names with the same expression (`local.module_name`) and
  # its policies name them exactly (a test holds the two expressions equal).
  name = length(var.deployment.pipeline_name) <= 54 ? var.deployment.pipeline_name : "${substr(var.deployment.pipeline_name, 0, 45)}-${substr(sha256(var.deployment.pipeline_name), 0, 8)}"

  # The stage's deploy role, named as bootstrap/modules/naming names it (bootstrap's roles have
  # no path): the role that applies. The alerts key names it, so that the calls right after
  # CreateKey do not depend on the key's tags, which IAM may not see for up to five minutes.
  # Never whoever made the plan: prod's plan is made by the read-only plan role, which must get
  # nothing in the key policy, and applied by the deploy role after the review.
  deploy_role_arn = "arn:${local.partition}:iam::${local.account_id}:role/${replace(substr(var.config.model_package_group_name, 0, 32), "/-+$/", "")}-deploy-${var.config.stage}"

  create_alarm_email_subscription = var.config.alarm_email != null

  # Built from their parts so that the alerts key policy does not depend on the alarms (which
  # depend on the topic, which depends on the key).
  alarm_names = {
    pipeline_failed      = "${local.name}-execution-failed"
    schedule_dead_letter = "${local.name}-schedule-dlq-not-empty"
    data_quality         = "${local.name}-data-quality"
    input_skipped        = "${local.name}-input-skipped"
  }
  alarm_arn = {
    for key, alarm_name in local.alarm_names :
    key => "arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:${alarm_name}"
  }
  alarm_arns = values(local.alarm_arn)

  # The ARNs the policy documents below name, built from their parts like alarm_arns: a data
  # source that reads a resource's arn is read only during apply whenever that resource changes
  # (the pipeline and the version tag change with every promotion), and the reviewed plan would
  # show the scheduler's trust and permissions and the topic policy as "(known after apply)".
  # Each resource checks its real ARN against these (a postcondition), so a difference fails the
  # apply instead of leaving a policy that names another resource. SageMaker writes a pipeline's
  # name in lower case in its ARN (as bootstrap/stage's policies name it).
  pipeline_arn          = "arn:${local.partition}:sagemaker:${local.region}:${local.account_id}:pipeline/${lower(var.deployment.pipeline_name)}"
  schedule_group_arn    = "arn:${local.partition}:scheduler:${local.region}:${local.account_id}:schedule-group/${local.name}"
  dead_letter_queue_arn = "arn:${local.partition}:sqs:${local.region}:${local.account_id}:${local.name}-schedule-dlq"
  alerts_topic_arn      = "arn:${local.partition}:sns:${local.region}:${local.account_id}:${local.name}-alerts"
  failure_rule_arn      = "arn:${local.partition}:events:${local.region}:${local.account_id}:rule/${local.name}-failed"

  # 14 days, the SQS maximum: time to inspect an invocation the scheduler could not deliver.
  dead_letter_queue_retention_seconds = 1209600
  alarm_period_seconds                = 300
}

################################################################################
# SageMaker model and pipeline
################################################################################

resource "aws_sagemaker_model" "this" {
  #checkov:skip=CKV_AWS_370:a package may set an s3:// SAGEMAKER_SUBMIT_DIRECTORY that the serving container downloads at start; network isolation would block it
  name               = var.deployment.model_name
  execution_role_arn = var.config.sagemaker_execution_role_arn

  primary_container {
    model_package_name = var.deployment.model_package_arn
  }

  dynamic "vpc_config" {
    for_each = var.config.vpc_config == null ? [] : [var.config.vpc_config]

    content {
      subnets            = vpc_config.value.subnet_ids
      security_group_ids = vpc_config.value.security_group_ids
    }
  }

  # model_name changes with every promoted version and with anything a model cannot change in
  # place (build.py's promotion/package.py model_identity: the package, the execution role, the
  # subnets and security groups): the new model exists before the schedule switches to it, and
  # the old one is deleted afterwards. A replacement under the same name would fail on AWS.
  lifecycle {
    create_before_destroy = true
  }

  tags = local.version_tags
}

resource "aws_sagemaker_pipeline" "this" {
  pipeline_name         = var.deployment.pipeline_name
  pipeline_display_name = var.deployment.pipeline_name
  pipeline_description  = "Batch inference with ${var.config.model_package_group_name} version ${var.deployment.source_model_package_version} (${var.config.stage})."
  role_arn              = var.config.sagemaker_execution_role_arn

  # Inline, never from S3: the provider cannot update a pipeline whose definition lives in S3
  # (terraform-provider-aws issue 38259). The module reads the file build.py rendered.
  pipeline_definition = local.pipeline_definition

  tags = local.version_tags

  lifecycle {
    postcondition {
      condition     = self.arn == local.pipeline_arn
      error_message = "This resource's ARN is not the one the stage's policies name (the ARN locals in batch-config-template.tf)."
    }
  }
}

################################################################################
# Schedule: EventBridge Scheduler starts the pipeline
################################################################################

resource "aws_scheduler_schedule_group" "this" {
  name = local.name
  tags = local.tags

  lifecycle {
    postcondition {
      condition     = self.arn == local.schedule_group_arn
      error_message = "This resource's ARN is not the one the stage's policies name (the ARN locals in batch-config-template.tf)."
    }
  }
}

resource "aws_sqs_queue" "schedule_dead_letter" {
  name                      = "${local.name}-schedule-dlq"
  message_retention_seconds = local.dead_letter_queue_retention_seconds
  sqs_managed_sse_enabled   = true
  tags                      = local.tags

  lifecycle {
    postcondition {
      condition     = self.arn == local.dead_letter_queue_arn
      error_message = "This resource's ARN is not the one the stage's policies name (the ARN locals in batch-config-template.tf)."
    }
  }
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
      values   = [local.schedule_group_arn]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  name                 = "${local.name}-scheduler"
  description          = "EventBridge Scheduler starts the ${var.deployment.pipeline_name} pipeline."
  assume_role_policy   = data.aws_iam_policy_document.scheduler_assume_role.json
  permissions_boundary = var.config.permissions_boundary_arn
  tags                 = local.tags
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    sid       = "StartThisPipeline"
    actions   = ["sagemaker:StartPipelineExecution"]
    resources = [local.pipeline_arn]
  }

  statement {
    sid       = "SendToDeadLetterQueue"
    actions   = ["sqs:SendMessage"]
    resources = [local.dead_letter_queue_arn]
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
  description                  = "Starts the ${var.deployment.pipeline_name} pipeline with model ${aws_sagemaker_model.this.name}."
  schedule_expression          = var.config.schedule_expression
  schedule_expression_timezone = var.config.schedule_timezone
  state                        = var.config.schedule_enabled ? "ENABLED" : "DISABLED"

  flexible_time_window {
    mode                      = "FLEXIBLE"
    maximum_window_in_minutes = var.schedule_flexible_time_window_minutes
  }

  # A universal target (the StartPipelineExecution API itself): only a target's Input gets the
  # scheduler's context attributes, and only this API call takes a ClientRequestToken.
  target {
    arn      = "arn:${local.partition}:scheduler:::aws-sdk:sagemaker:startPipelineExecution"
    role_arn = aws_iam_role.scheduler.arn
    input    = local.schedule_input

    dead_letter_config {
      arn = aws_sqs_queue.schedule_dead_letter.arn
    }

    retry_policy {
      maximum_retry_attempts       = var.schedule_retry_policy.maximum_retry_attempts
      maximum_event_age_in_seconds = var.schedule_retry_policy.maximum_event_age_in_seconds
    }
  }

  # The role must be able to start the pipeline before the first invocation.
  depends_on = [aws_iam_role_policy.scheduler]
}

################################################################################
# Failure alerts: EventBridge rule and CloudWatch alarms to an encrypted SNS topic
################################################################################

# The alerts key's statements beyond the account's own (modules/kms-key adds that one).
data "aws_iam_policy_document" "alerts_key" {
  #checkov:skip=CKV_AWS_109:key policy; "*" is this key, and each statement names one principal (the deploy role, or a service for this stage's alarms and rule)
  #checkov:skip=CKV_AWS_111:key policy; "*" is this key, and each statement names one principal (the deploy role, or a service for this stage's alarms and rule)
  #checkov:skip=CKV_AWS_356:key policy; "*" is this key, and each statement names one principal (the deploy role, or a service for this stage's alarms and rule)
  # Only this key policy lets the deploy role administer the key: an identity-policy grant on
  # keys tagged with the model's group would also reach any other key of the account that the
  # role tags so (CreateKey with tags needs kms:TagResource on every key: AWS KMS guide,
  # "Controlling access to tags"). It also covers the calls right after CreateKey, before the new
  # key's tags count for authorization (AWS KMS guide, ABAC: up to five minutes).
  statement {
    sid = "DeployRoleManagesKey"
    actions = [
      "kms:DescribeKey",
      "kms:GetKeyPolicy",
      "kms:GetKeyRotationStatus",
      "kms:ListResourceTags",
      "kms:PutKeyPolicy",
      "kms:EnableKeyRotation",
      "kms:CreateAlias",
      "kms:UpdateAlias",
      "kms:DeleteAlias",
      "kms:TagResource",
      "kms:UntagResource",
      "kms:UpdateKeyDescription",
      "kms:ScheduleKeyDeletion",
    ]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [local.deploy_role_arn]
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

module "alerts_key" {
  source = "./modules/kms-key"

  description       = "Encrypts the ${var.deployment.pipeline_name} alerts topic."
  alias             = "${local.name}-alerts"
  account_id        = local.account_id
  policy_statements = data.aws_iam_policy_document.alerts_key.json
  tags              = local.tags
}

resource "aws_sns_topic" "alerts" {
  name              = "${local.name}-alerts"
  display_name      = "${local.name} alerts"
  kms_master_key_id = module.alerts_key.arn
  tags              = local.tags

  lifecycle {
    postcondition {
      condition     = self.arn == local.alerts_topic_arn
      error_message = "This resource's ARN is not the one the stage's policies name (the ARN locals in batch-config-template.tf)."
    }
  }
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
    resources = [local.alerts_topic_arn]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "FailureRulePublishes"
    actions   = ["sns:Publish"]
    resources = [local.alerts_topic_arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [local.failure_rule_arn]
    }
  }

  statement {
    sid       = "AlarmsPublish"
    actions   = ["sns:Publish"]
    resources = [local.alerts_topic_arn]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values = [
        local.alarm_arn.pipeline_failed,
        local.alarm_arn.schedule_dead_letter,
        local.alarm_arn.data_quality,
        local.alarm_arn.input_skipped,
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
  endpoint  = var.config.alarm_email
}

resource "aws_cloudwatch_event_rule" "pipeline_failed" {
  name        = "${local.name}-failed"
  description = "An execution of the ${var.deployment.pipeline_name} pipeline failed."
  tags        = local.tags

  event_pattern = jsonencode({
    source        = ["aws.sagemaker"]
    "detail-type" = ["SageMaker Model Building Pipeline Execution Status Change"]
    detail = {
      currentPipelineExecutionStatus = ["Failed"]
      pipelineArn                    = [aws_sagemaker_pipeline.this.arn]
    }
  })

  lifecycle {
    postcondition {
      condition     = self.arn == local.failure_rule_arn
      error_message = "This resource's ARN is not the one the stage's policies name (the ARN locals in batch-config-template.tf)."
    }
  }
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
    input_template = "\"${var.config.stage}: SageMaker pipeline execution <execution> failed at <time>.\""
  }
}

resource "aws_cloudwatch_metric_alarm" "pipeline_failed" {
  alarm_name          = local.alarm_names.pipeline_failed
  alarm_description   = "An execution of the ${var.deployment.pipeline_name} pipeline (${var.config.stage}) failed."
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
  tags                = local.tags

  lifecycle {
    postcondition {
      condition     = contains(local.alarm_arns, self.arn)
      error_message = "This resource's ARN is not the one the stage's policies name (the ARN locals in batch-config-template.tf)."
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "schedule_dead_letter" {
  alarm_name          = local.alarm_names.schedule_dead_letter
  alarm_description   = "The schedule could not start the ${var.deployment.pipeline_name} pipeline (${var.config.stage}); see its dead-letter queue."
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
  tags                = local.tags

  lifecycle {
    postcondition {
      condition     = contains(local.alarm_arns, self.arn)
      error_message = "This resource's ARN is not the one the stage's policies name (the ARN locals in batch-config-template.tf)."
    }
  }
}

# A date without input that the stage skips (missing_input = "skip") is no failure: the
# execution succeeds, Preprocess writes <output>/<date>/<execution>/_SKIPPED and counts one
# BatchInference/InputSkipped, and this alarm (not the failure one) tells the topic.
resource "aws_cloudwatch_metric_alarm" "input_skipped" {
  alarm_name          = local.alarm_names.input_skipped
  alarm_description   = "A run of the ${var.deployment.pipeline_name} pipeline (${var.config.stage}) found no input for its date and recorded a skip."
  namespace           = "BatchInference"
  metric_name         = "InputSkipped"
  dimensions          = { PipelineName = aws_sagemaker_pipeline.this.pipeline_name }
  statistic           = "Sum"
  period              = local.alarm_period_seconds
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  tags                = local.tags

  lifecycle {
    postcondition {
      condition     = contains(local.alarm_arns, self.arn)
      error_message = "This resource's ARN is not the one the stage's policies name (the ARN locals in batch-config-template.tf)."
    }
  }
}

################################################################################
# Results for SQL: Glue table over the authoritative manifests (Athena)
################################################################################

resource "aws_glue_catalog_database" "results" {
  name        = local.results_database
  description = "Predictions of the ${var.deployment.pipeline_name} pipeline (${var.config.stage})."
  tags        = local.tags
}

# One row per input row and date: each date's partition is the manifest
# _authoritative/dt=<date>/symlink.txt, which lists the Parquet files of the ONE execution
# published for that date, so re-runs are never counted twice. Partition projection computes
# the partitions from the date: nothing to add or repair when a date is scored.
resource "aws_glue_catalog_table" "predictions" {
  name          = "predictions"
  database_name = aws_glue_catalog_database.results.name
  description   = "Authoritative predictions per date; query with WHERE dt = 'YYYY-MM-DD'."
  table_type    = "EXTERNAL_TABLE"

  parameters = {
    "classification"              = "parquet"
    "projection.enabled"          = "true"
    "projection.dt.type"          = "date"
    "projection.dt.format"        = "yyyy-MM-dd"
    "projection.dt.range"         = "2020-01-01,NOW"
    "projection.dt.interval"      = "1"
    "projection.dt.interval.unit" = "DAYS"
    "storage.location.template"   = "${local.results_prefix}dt=$${dt}/"
  }

  partition_keys {
    name = "dt"
    type = "string"
  }

  storage_descriptor {
    location      = local.results_prefix
    input_format  = "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"

    ser_de_info {
      serialization_library = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    }

    dynamic "columns" {
      for_each = local.results_columns

      content {
        name = columns.value.name
        type = columns.value.type
      }
    }
  }
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

################################################################################
# Data quality: Preprocess publishes the violations it found (docs/evidence.md)
################################################################################

resource "aws_cloudwatch_metric_alarm" "data_quality" {
  # Only policy "warn" publishes the metric ("fail" stops the run, which the execution-failed
  # alarm reports; "off" checks nothing): with the other policies this alarm stays OK.
  alarm_name          = local.alarm_names.data_quality
  alarm_description   = "A batch of the ${var.deployment.pipeline_name} pipeline (${var.config.stage}) violated its data-quality baseline; the run went on (data_quality = warn). See the run's Preprocess/quality report."
  namespace           = "BatchInference/DataQuality" # pipelines/definition/quality_inputs.py
  metric_name         = "DataQualityViolations"
  dimensions          = { PipelineName = var.deployment.pipeline_name }
  statistic           = "Maximum"
  period              = local.alarm_period_seconds
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  tags                = local.tags

  lifecycle {
    postcondition {
      condition     = contains(local.alarm_arns, self.arn)
      error_message = "This resource's ARN is not the one the stage's policies name (the ARN locals in batch-config-template.tf)."
    }
  }
}
