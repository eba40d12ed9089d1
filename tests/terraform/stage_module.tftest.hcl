# The stage module (the repository root) planned by the real Terraform and the real AWS provider,
# offline: no credentials, no AWS call. What AWS would assign (the account of the caller, the
# ARNs of new resources) is given at plan time, so policies and parameters are read as JSON.
# Run by tests/terraform/test_terraform_module.py: terraform test -test-directory=tests/terraform

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
  target          = aws_sagemaker_pipeline.this
  override_during = plan
  values          = { arn = "arn:aws:sagemaker:us-east-1:222222222222:pipeline/churn-model-pre-prod-batch-inference" }
}

override_resource {
  target          = aws_sqs_queue.schedule_dead_letter
  override_during = plan
  values = {
    arn = "arn:aws:sqs:us-east-1:222222222222:churn-model-pre-prod-batch-inference-schedule-dlq"
    url = "https://sqs.us-east-1.amazonaws.com/222222222222/churn-model-pre-prod-batch-inference-schedule-dlq"
  }
}

override_resource {
  target          = aws_scheduler_schedule_group.this
  override_during = plan
  values          = { arn = "arn:aws:scheduler:us-east-1:222222222222:schedule-group/churn-model-pre-prod-batch-inference" }
}

override_resource {
  target          = aws_iam_role.scheduler
  override_during = plan
  values          = { arn = "arn:aws:iam::222222222222:role/churn-model-pre-prod-batch-inference-scheduler" }
}

override_resource {
  target          = aws_sns_topic.alerts
  override_during = plan
  values          = { arn = "arn:aws:sns:us-east-1:222222222222:churn-model-pre-prod-batch-inference-alerts" }
}

override_resource {
  target          = aws_cloudwatch_event_rule.pipeline_failed
  override_during = plan
  values          = { arn = "arn:aws:events:us-east-1:222222222222:rule/churn-model-pre-prod-batch-inference-failed" }
}

override_resource {
  target          = aws_cloudwatch_metric_alarm.pipeline_failed
  override_during = plan
  values          = { arn = "arn:aws:cloudwatch:us-east-1:222222222222:alarm:churn-model-pre-prod-batch-inference-execution-failed" }
}

override_resource {
  target          = aws_cloudwatch_metric_alarm.schedule_dead_letter
  override_during = plan
  values          = { arn = "arn:aws:cloudwatch:us-east-1:222222222222:alarm:churn-model-pre-prod-batch-inference-schedule-dlq-not-empty" }
}

override_resource {
  target          = aws_cloudwatch_metric_alarm.data_quality
  override_during = plan
  values          = { arn = "arn:aws:cloudwatch:us-east-1:222222222222:alarm:churn-model-pre-prod-batch-inference-data-quality" }
}

override_resource {
  target          = aws_cloudwatch_metric_alarm.input_skipped
  override_during = plan
  values          = { arn = "arn:aws:cloudwatch:us-east-1:222222222222:alarm:churn-model-pre-prod-batch-inference-input-skipped" }
}

override_resource {
  target          = module.alerts_key.aws_kms_key.this
  override_during = plan
  values = {
    arn    = "arn:aws:kms:us-east-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    key_id = "1234abcd-12ab-34cd-56ef-1234567890ab"
  }
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

run "schedule_starts_this_pipeline_with_the_interface_parameters" {
  command = plan

  assert {
    condition = {
      for parameter in jsondecode(aws_scheduler_schedule.this.target[0].input).PipelineParameters :
      parameter.Name => parameter.Value
      } == {
      ModelName               = "churn-model-pre-prod-v3"
      InputDataUrl            = "s3://churn-data-222222222222/input/"
      OutputDataUrl           = "s3://churn-data-222222222222/predictions/"
      ProcessingInstanceType  = "ml.m5.xlarge"
      ProcessingInstanceCount = "1"
      TransformInstanceType   = "ml.m5.xlarge"
      TransformInstanceCount  = "1"
      ScheduledTime           = "<aws.scheduler.scheduled-time>"
    }
    error_message = "the schedule passes ${aws_scheduler_schedule.this.target[0].input}"
  }

  # StartPipelineExecution refuses a parameter the definition does not declare.
  assert {
    condition = alltrue([
      for parameter in jsondecode(aws_scheduler_schedule.this.target[0].input).PipelineParameters :
      contains(jsondecode(file(var.deployment.pipeline_definition_file)).Parameters[*].Name, parameter.Name)
    ])
    error_message = "the schedule passes a parameter the rendered definition does not declare"
  }

  # The scheduler replaces the keyword only when written plainly (jsonencode escapes < and >).
  assert {
    condition     = strcontains(aws_scheduler_schedule.this.target[0].input, "\"<aws.scheduler.scheduled-time>\"") && !strcontains(aws_scheduler_schedule.this.target[0].input, "\\u003c")
    error_message = "the scheduled-time keyword is escaped in the schedule's input"
  }

  # One execution per tick however often the scheduler retries: a token from the tick's time,
  # within StartPipelineExecution's 32-128 characters.
  assert {
    condition = (
      jsondecode(aws_scheduler_schedule.this.target[0].input).PipelineName == "churn-model-pre-prod-batch-inference" &&
      can(regex("^tick-[0-9a-f]{16}-<aws.scheduler.scheduled-time>$", jsondecode(aws_scheduler_schedule.this.target[0].input).ClientRequestToken)) &&
      length("tick-0123456789abcdef-2026-11-26T03:00:00Z") >= 32
    )
    error_message = "the request's PipelineName or ClientRequestToken is wrong"
  }

  assert {
    condition = (
      aws_scheduler_schedule.this.target[0].arn == "arn:aws:scheduler:::aws-sdk:sagemaker:startPipelineExecution" &&
      aws_scheduler_schedule.this.target[0].role_arn == aws_iam_role.scheduler.arn &&
      aws_scheduler_schedule.this.target[0].dead_letter_config[0].arn == aws_sqs_queue.schedule_dead_letter.arn &&
      aws_scheduler_schedule.this.target[0].retry_policy[0].maximum_retry_attempts == 3 &&
      aws_scheduler_schedule.this.target[0].retry_policy[0].maximum_event_age_in_seconds == 3600
    )
    error_message = "the schedule's target is not this pipeline with retries and a dead-letter queue"
  }

  assert {
    condition = (
      aws_scheduler_schedule.this.flexible_time_window[0].mode == "FLEXIBLE" &&
      aws_scheduler_schedule.this.flexible_time_window[0].maximum_window_in_minutes == 15 &&
      aws_scheduler_schedule.this.schedule_expression == "cron(0 3 * * ? *)" &&
      aws_scheduler_schedule.this.schedule_expression_timezone == "UTC" &&
      aws_scheduler_schedule.this.state == "ENABLED" &&
      aws_scheduler_schedule.this.group_name == aws_scheduler_schedule_group.this.name
    )
    error_message = "the schedule's timing or state is not the stage file's defaults"
  }

  assert {
    condition     = aws_sqs_queue.schedule_dead_letter.sqs_managed_sse_enabled && aws_sqs_queue.schedule_dead_letter.message_retention_seconds == 1209600
    error_message = "the dead-letter queue must be encrypted and keep messages 14 days"
  }
}

run "pipeline_and_model_come_from_the_promoted_version" {
  command = plan

  assert {
    condition = (
      aws_sagemaker_pipeline.this.pipeline_name == "churn-model-pre-prod-batch-inference" &&
      aws_sagemaker_pipeline.this.pipeline_definition == file(var.deployment.pipeline_definition_file) &&
      length(aws_sagemaker_pipeline.this.pipeline_definition_s3_location) == 0 &&
      aws_sagemaker_pipeline.this.role_arn == "arn:aws:iam::222222222222:role/churn-execution"
    )
    error_message = "the pipeline's definition must be the rendered one, inline, run as the execution role"
  }

  assert {
    condition = (
      aws_sagemaker_model.this.name == "churn-model-pre-prod-v3" &&
      aws_sagemaker_model.this.primary_container[0].model_package_name == var.deployment.model_package_arn &&
      aws_sagemaker_model.this.execution_role_arn == "arn:aws:iam::222222222222:role/churn-execution" &&
      length(aws_sagemaker_model.this.vpc_config) == 0
    )
    error_message = "the model must be the promoted package's, outside any VPC by default"
  }
}

run "model_in_the_stages_vpc" {
  command = plan

  variables {
    config = merge(var.config, { vpc_config = { subnet_ids = ["subnet-1", "subnet-2"], security_group_ids = ["sg-1"] } })
  }

  assert {
    condition     = aws_sagemaker_model.this.vpc_config[0].subnets == toset(["subnet-1", "subnet-2"]) && aws_sagemaker_model.this.vpc_config[0].security_group_ids == toset(["sg-1"])
    error_message = "vpc_config must reach the model"
  }
}

run "alerts_reach_an_encrypted_topic_from_this_stage_only" {
  command = plan

  assert {
    condition     = aws_sns_topic.alerts.kms_master_key_id == module.alerts_key.arn && module.alerts_key.alias_name == "alias/churn-model-pre-prod-batch-inference-alerts"
    error_message = "the alerts topic must be encrypted with the stage's alerts key"
  }

  # The key policy: the account (through IAM), the deploy role for the calls right after
  # CreateKey, CloudWatch for this stage's alarms only, and EventBridge (which supports no
  # source condition in a key policy: Amazon SNS Developer Guide, key management).
  assert {
    condition = {
      for s in jsondecode(module.alerts_key.policy).Statement : s.Sid => [
        s.Principal, try(s.Condition.StringEquals, null), toset(try(s.Condition.ArnEquals["aws:SourceArn"], []))
      ]
      } == {
      AccountDelegatesToIam = [{ AWS = "arn:aws:iam::222222222222:root" }, null, toset([])]
      DeployRoleManagesKey  = [{ AWS = "arn:aws:iam::222222222222:role/churn-model-deploy-pre-prod" }, null, toset([])]
      AlarmsUseKey = [{ Service = "cloudwatch.amazonaws.com" }, { "aws:SourceAccount" = "222222222222" }, toset([
        aws_cloudwatch_metric_alarm.pipeline_failed.arn,
        aws_cloudwatch_metric_alarm.schedule_dead_letter.arn,
        aws_cloudwatch_metric_alarm.data_quality.arn,
        aws_cloudwatch_metric_alarm.input_skipped.arn,
      ])]
      FailureRuleUsesKey = [{ Service = "events.amazonaws.com" }, null, toset([])]
    }
    error_message = "the alerts key policy: ${module.alerts_key.policy}"
  }

  assert {
    condition = alltrue([
      for s in jsondecode(module.alerts_key.policy).Statement :
      toset(flatten([s.Action])) == (s.Sid == "DeployRoleManagesKey" ? toset([
        "kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags",
        "kms:PutKeyPolicy", "kms:EnableKeyRotation", "kms:CreateAlias", "kms:UpdateAlias",
        "kms:DeleteAlias", "kms:TagResource", "kms:UntagResource", "kms:UpdateKeyDescription",
        "kms:ScheduleKeyDeletion",
      ]) : toset(["kms:Decrypt", "kms:GenerateDataKey*"]))
      if s.Sid != "AccountDelegatesToIam" # modules/kms-key's own statement, tested there
    ])
    error_message = "the alerts key grants other actions than the deploy role's administration and Decrypt/GenerateDataKey*"
  }

  assert {
    condition = jsondecode(aws_cloudwatch_event_rule.pipeline_failed.event_pattern) == {
      source        = ["aws.sagemaker"]
      "detail-type" = ["SageMaker Model Building Pipeline Execution Status Change"]
      detail = {
        currentPipelineExecutionStatus = ["Failed"]
        pipelineArn                    = [aws_sagemaker_pipeline.this.arn]
      }
    }
    error_message = "the failure rule must match failed executions of this pipeline"
  }

  assert {
    condition     = aws_cloudwatch_event_target.pipeline_failed.arn == aws_sns_topic.alerts.arn && aws_cloudwatch_event_target.pipeline_failed.rule == aws_cloudwatch_event_rule.pipeline_failed.name
    error_message = "the failure rule must notify the alerts topic"
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.pipeline_failed.namespace == "AWS/Sagemaker/ModelBuildingPipeline" &&
      aws_cloudwatch_metric_alarm.pipeline_failed.metric_name == "ExecutionFailed" &&
      aws_cloudwatch_metric_alarm.pipeline_failed.dimensions == tomap({ PipelineName = "churn-model-pre-prod-batch-inference" }) &&
      aws_cloudwatch_metric_alarm.schedule_dead_letter.dimensions == tomap({ QueueName = aws_sqs_queue.schedule_dead_letter.name }) &&
      alltrue([for alarm in [
        aws_cloudwatch_metric_alarm.pipeline_failed, aws_cloudwatch_metric_alarm.schedule_dead_letter,
        aws_cloudwatch_metric_alarm.data_quality, aws_cloudwatch_metric_alarm.input_skipped,
      ] : toset(alarm.alarm_actions) == toset([aws_sns_topic.alerts.arn])])
    )
    error_message = "every alarm must watch this stage and notify the alerts topic"
  }

  # The ARNs given above are those AWS gives alarms of these names: the key policy names them.
  assert {
    condition = alltrue([for alarm in [
      aws_cloudwatch_metric_alarm.pipeline_failed, aws_cloudwatch_metric_alarm.schedule_dead_letter,
      aws_cloudwatch_metric_alarm.data_quality, aws_cloudwatch_metric_alarm.input_skipped,
    ] : alarm.arn == "arn:aws:cloudwatch:us-east-1:222222222222:alarm:${alarm.alarm_name}"])
    error_message = "an alarm's name is not the one its ARN above was built from"
  }

  assert {
    condition     = length(aws_sns_topic_subscription.alarm_email) == 0
    error_message = "no email is subscribed without alarm_email"
  }
}

run "alarm_email_is_subscribed" {
  command = plan

  variables {
    config = merge(var.config, { alarm_email = "ml-team@example.com" })
  }

  assert {
    condition     = aws_sns_topic_subscription.alarm_email[0].endpoint == "ml-team@example.com" && aws_sns_topic_subscription.alarm_email[0].protocol == "email"
    error_message = "alarm_email must be subscribed to the alerts topic"
  }
}

run "dashboard_shows_executions_schedule_queue_and_alarms" {
  command = plan

  assert {
    condition = toset(flatten([
      for widget in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets :
      [for metric in try(widget.properties.metrics, []) : "${metric[0]} ${metric[1]} ${metric[2]}=${metric[3]}"]
      ])) == toset([
      "AWS/Sagemaker/ModelBuildingPipeline ExecutionSucceeded PipelineName=churn-model-pre-prod-batch-inference",
      "AWS/Sagemaker/ModelBuildingPipeline ExecutionFailed PipelineName=churn-model-pre-prod-batch-inference",
      "AWS/Sagemaker/ModelBuildingPipeline ExecutionDuration PipelineName=churn-model-pre-prod-batch-inference",
      "AWS/Scheduler InvocationAttemptCount ScheduleGroup=churn-model-pre-prod-batch-inference",
      "AWS/Scheduler TargetErrorCount ScheduleGroup=churn-model-pre-prod-batch-inference",
      "AWS/Scheduler InvocationDroppedCount ScheduleGroup=churn-model-pre-prod-batch-inference",
      "AWS/Scheduler InvocationsSentToDeadLetterCount ScheduleGroup=churn-model-pre-prod-batch-inference",
      "AWS/SQS ApproximateNumberOfMessagesVisible QueueName=churn-model-pre-prod-batch-inference-schedule-dlq",
    ])
    error_message = "the dashboard's metrics: ${aws_cloudwatch_dashboard.this.dashboard_body}"
  }

  assert {
    condition = contains([
      for widget in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : try(widget.properties.alarms, [])
    ], [aws_cloudwatch_metric_alarm.pipeline_failed.arn, aws_cloudwatch_metric_alarm.schedule_dead_letter.arn])
    error_message = "the dashboard must show both alarms' states"
  }
}

run "every_resource_carries_the_deployment_tags" {
  command = plan

  # The module tags its resources itself (no provider default_tags): the deployment tags win
  # over the stage file's own. The stage's standing resources carry no version (a promotion
  # would change them all for a tag); the model and the pipeline carry theirs.
  assert {
    condition = alltrue([for tags in [
      aws_sns_topic.alerts.tags, aws_iam_role.scheduler.tags, aws_sqs_queue.schedule_dead_letter.tags,
      aws_scheduler_schedule_group.this.tags, aws_cloudwatch_event_rule.pipeline_failed.tags,
      aws_cloudwatch_metric_alarm.input_skipped.tags, aws_glue_catalog_database.results.tags,
      ] : tags == tomap({
        team              = "ml"
        Stage             = "pre-prod"
        ModelPackageGroup = "churn-model"
    })])
    error_message = "a standing resource lacks the deployment tags, carries the version, or the stage file overrode one"
  }

  assert {
    condition = alltrue([for tags in [aws_sagemaker_model.this.tags, aws_sagemaker_pipeline.this.tags] :
      tags == tomap({
        team                      = "ml"
        Stage                     = "pre-prod"
        ModelPackageGroup         = "churn-model"
        SourceModelPackageVersion = "3"
    })])
    error_message = "the model or the pipeline lacks the deployment tags or the version"
  }
}

run "names_beyond_54_characters_are_shortened_with_a_hash" {
  command = plan

  variables {
    deployment = merge(var.deployment, { pipeline_name = "a-model-package-group-name-that-is-long-enough-pre-prod-batch-inference" })
  }

  # The ARNs AWS would give the shortened names (each resource's postcondition compares them).
  override_resource {
    target          = aws_sagemaker_pipeline.this
    override_during = plan
    values          = { arn = "arn:aws:sagemaker:us-east-1:222222222222:pipeline/a-model-package-group-name-that-is-long-enough-pre-prod-batch-inference" }
  }

  override_resource {
    target          = aws_scheduler_schedule_group.this
    override_during = plan
    values          = { arn = "arn:aws:scheduler:us-east-1:222222222222:schedule-group/a-model-package-group-name-that-is-long-enoug-cfa0e7a6" }
  }

  override_resource {
    target          = aws_sqs_queue.schedule_dead_letter
    override_during = plan
    values          = { arn = "arn:aws:sqs:us-east-1:222222222222:a-model-package-group-name-that-is-long-enoug-cfa0e7a6-schedule-dlq" }
  }

  override_resource {
    target          = aws_sns_topic.alerts
    override_during = plan
    values          = { arn = "arn:aws:sns:us-east-1:222222222222:a-model-package-group-name-that-is-long-enoug-cfa0e7a6-alerts" }
  }

  override_resource {
    target          = aws_cloudwatch_event_rule.pipeline_failed
    override_during = plan
    values          = { arn = "arn:aws:events:us-east-1:222222222222:rule/a-model-package-group-name-that-is-long-enoug-cfa0e7a6-failed" }
  }

  override_resource {
    target          = aws_cloudwatch_metric_alarm.pipeline_failed
    override_during = plan
    values          = { arn = "arn:aws:cloudwatch:us-east-1:222222222222:alarm:a-model-package-group-name-that-is-long-enoug-cfa0e7a6-execution-failed" }
  }

  override_resource {
    target          = aws_cloudwatch_metric_alarm.schedule_dead_letter
    override_during = plan
    values          = { arn = "arn:aws:cloudwatch:us-east-1:222222222222:alarm:a-model-package-group-name-that-is-long-enoug-cfa0e7a6-schedule-dlq-not-empty" }
  }

  override_resource {
    target          = aws_cloudwatch_metric_alarm.data_quality
    override_during = plan
    values          = { arn = "arn:aws:cloudwatch:us-east-1:222222222222:alarm:a-model-package-group-name-that-is-long-enoug-cfa0e7a6-data-quality" }
  }

  override_resource {
    target          = aws_cloudwatch_metric_alarm.input_skipped
    override_during = plan
    values          = { arn = "arn:aws:cloudwatch:us-east-1:222222222222:alarm:a-model-package-group-name-that-is-long-enoug-cfa0e7a6-input-skipped" }
  }

  # IAM roles, schedules, schedule groups and rules allow 64 characters.
  assert {
    condition = alltrue([for name in [
      aws_iam_role.scheduler.name, aws_scheduler_schedule.this.name,
      aws_scheduler_schedule_group.this.name, aws_cloudwatch_event_rule.pipeline_failed.name,
    ] : length(name) <= 64 && startswith(name, "${substr(var.deployment.pipeline_name, 0, 45)}-")])
    error_message = "a derived name is longer than 64 characters or not based on the pipeline name"
  }

  assert {
    condition     = aws_sagemaker_pipeline.this.pipeline_name == "a-model-package-group-name-that-is-long-enough-pre-prod-batch-inference"
    error_message = "the pipeline keeps its full name"
  }
}

run "results_table_reads_the_authoritative_manifests_with_the_stages_columns" {
  command = plan

  assert {
    condition = (
      aws_glue_catalog_table.predictions.storage_descriptor[0].location == "s3://churn-data-222222222222/predictions/_authoritative/" &&
      aws_glue_catalog_table.predictions.parameters["storage.location.template"] == "s3://churn-data-222222222222/predictions/_authoritative/dt=$${dt}/" &&
      output.results_authoritative_prefix == "s3://churn-data-222222222222/predictions/_authoritative/"
    )
    error_message = "the results table must read the authoritative prefix by date"
  }

  assert {
    condition = [for column in aws_glue_catalog_table.predictions.storage_descriptor[0].columns : "${column.name}:${column.type}"] == [
      "source_file:string", "row_number:bigint", "prediction:double",
      "model_package_version:bigint", "execution_id:string", "run_date:date",
    ]
    error_message = "without id_column and prediction_columns: the row ids and one double prediction"
  }
}

run "results_table_names_the_stages_prediction_columns" {
  command = plan

  variables {
    config = merge(var.config, { id_column = "record_id", prediction_columns = ["label:string", "score", "probabilities:array<double>"] })
  }

  assert {
    condition = [for column in aws_glue_catalog_table.predictions.storage_descriptor[0].columns : "${column.name}:${column.type}"] == [
      "record_id:string", "label:string", "score:double", "probabilities:array<double>",
      "model_package_version:bigint", "execution_id:string", "run_date:date",
    ]
    error_message = "the id column, the named predictions with their types, then the step's own"
  }
}

# Glue stores column names in lower case: declared in the stage file's case, a mixed-case name
# would show a change on every plan (prod's reviewed one too).
run "results_table_declares_the_stages_column_names_in_lower_case" {
  command = plan

  variables {
    config = merge(var.config, { id_column = "userId", prediction_columns = ["Label:string", "churnScore"] })
  }

  assert {
    condition = [for column in aws_glue_catalog_table.predictions.storage_descriptor[0].columns : "${column.name}:${column.type}"] == [
      "userid:string", "label:string", "churnscore:double",
      "model_package_version:bigint", "execution_id:string", "run_date:date",
    ]
    error_message = "the table must declare the id and prediction columns lower-cased, as Glue stores them"
  }
}

run "outputs_name_the_deployed_resources" {
  command = plan

  assert {
    condition = (
      output.sagemaker_pipeline_name == aws_sagemaker_pipeline.this.pipeline_name &&
      output.sagemaker_pipeline_arn == aws_sagemaker_pipeline.this.arn &&
      output.sagemaker_model_name == aws_sagemaker_model.this.name &&
      output.scheduler_schedule_name == aws_scheduler_schedule.this.name &&
      output.scheduler_schedule_group_name == aws_scheduler_schedule_group.this.name &&
      output.scheduler_dead_letter_queue_url == aws_sqs_queue.schedule_dead_letter.url &&
      output.sns_topic_arn == aws_sns_topic.alerts.arn &&
      output.sns_topic_subscription_arn == "" &&
      output.cloudwatch_dashboard_name == aws_cloudwatch_dashboard.this.dashboard_name &&
      output.glue_results_database_name == "churn_model_pre_prod_batch_inference" &&
      output.glue_results_table_name == "predictions"
    )
    error_message = "an output does not name its resource"
  }
}
