# The stage module's inputs, checked by the real Terraform: every validation refuses what it
# must (expect_failures), accepts what it must, and a stage file with only the required keys
# gets StageConfig's defaults. Run by tests/terraform/test_terraform_module.py.

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

# Only the required keys: every other key takes the default StageConfig gives it
# (promotion/config.py; test_terraform_module.py holds the two schemas equal).
run "defaults_of_a_minimal_stage_file" {
  command = plan
  variables {
    config = {
      stage                        = "prod"
      account_id                   = "333333333333"
      region                       = "eu-west-1"
      source_account_id            = "111111111111"
      model_package_group_name     = "churn-model"
      artifacts_bucket             = "churn-artifacts-333333333333"
      sagemaker_execution_role_arn = "arn:aws:iam::333333333333:role/churn-execution"
      input_data_url               = "s3://churn-data-333333333333/input/"
      output_data_url              = "s3://churn-data-333333333333/predictions/"
    }
  }
  assert {
    condition = (
      aws_scheduler_schedule.this.state == "ENABLED" &&
      aws_scheduler_schedule.this.schedule_expression == "cron(0 3 * * ? *)" &&
      aws_scheduler_schedule.this.schedule_expression_timezone == "UTC" &&
      aws_iam_role.scheduler.permissions_boundary == null &&
      length(aws_sns_topic_subscription.alarm_email) == 0 &&
      aws_sagemaker_model.this.tags == tomap({ Stage = "prod", ModelPackageGroup = "churn-model", SourceModelPackageVersion = "3" })
    )
    error_message = "a minimal stage file does not get the defaults"
  }
  assert {
    condition = {
      for parameter in jsondecode(aws_scheduler_schedule.this.target[0].input).PipelineParameters :
      parameter.Name => parameter.Value if startswith(parameter.Name, "Processing") || startswith(parameter.Name, "Transform")
      } == {
      ProcessingInstanceType = "ml.m5.xlarge", ProcessingInstanceCount = "1",
      TransformInstanceType  = "ml.m5.xlarge", TransformInstanceCount = "1",
    }
    error_message = "the default instance settings are not passed to the pipeline"
  }
}

run "schedule_off_keeps_the_schedule_disabled" {
  command = plan
  variables {
    config = merge(var.config, { schedule_enabled = false })
  }
  assert {
    condition     = aws_scheduler_schedule.this.state == "DISABLED"
    error_message = "schedule_enabled = false must keep the schedule, DISABLED"
  }
}

run "config_schedule_expression_accepts_0" {
  command = plan
  variables {
    config = merge(var.config, { schedule_expression = "rate(1 hour)" })
  }
  assert {
    condition     = var.config.schedule_expression == "rate(1 hour)"
    error_message = "schedule_expression = rate(1 hour) was not accepted as given"
  }
}

run "config_schedule_expression_accepts_1" {
  command = plan
  variables {
    config = merge(var.config, { schedule_expression = "rate(15 minutes)" })
  }
  assert {
    condition     = var.config.schedule_expression == "rate(15 minutes)"
    error_message = "schedule_expression = rate(15 minutes) was not accepted as given"
  }
}

run "config_schedule_expression_accepts_2" {
  command = plan
  variables {
    config = merge(var.config, { schedule_expression = "cron(0/30 8-17 ? * MON-FRI *)" })
  }
  assert {
    condition     = var.config.schedule_expression == "cron(0/30 8-17 ? * MON-FRI *)"
    error_message = "schedule_expression = cron(0/30 8-17 ? * MON-FRI *) was not accepted as given"
  }
}

run "config_schedule_expression_accepts_3" {
  command = plan
  variables {
    config = merge(var.config, { schedule_expression = "at(2030-01-01T00:00:00)" })
  }
  assert {
    condition     = var.config.schedule_expression == "at(2030-01-01T00:00:00)"
    error_message = "schedule_expression = at(2030-01-01T00:00:00) was not accepted as given"
  }
}

run "config_schedule_timezone_accepts_0" {
  command = plan
  variables {
    config = merge(var.config, { schedule_timezone = "Europe/Paris" })
  }
  assert {
    condition     = var.config.schedule_timezone == "Europe/Paris"
    error_message = "schedule_timezone = Europe/Paris was not accepted as given"
  }
}

run "config_schedule_timezone_accepts_1" {
  command = plan
  variables {
    config = merge(var.config, { schedule_timezone = "America/Argentina/Buenos_Aires" })
  }
  assert {
    condition     = var.config.schedule_timezone == "America/Argentina/Buenos_Aires"
    error_message = "schedule_timezone = America/Argentina/Buenos_Aires was not accepted as given"
  }
}

run "config_schedule_timezone_accepts_2" {
  command = plan
  variables {
    config = merge(var.config, { schedule_timezone = "Etc/GMT+5" })
  }
  assert {
    condition     = var.config.schedule_timezone == "Etc/GMT+5"
    error_message = "schedule_timezone = Etc/GMT+5 was not accepted as given"
  }
}

run "config_kms_key_arn_accepts_0" {
  command = plan
  variables {
    config = merge(var.config, { kms_key_arn = "arn:aws:kms:us-east-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab" })
  }
  assert {
    condition     = var.config.kms_key_arn == "arn:aws:kms:us-east-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    error_message = "kms_key_arn = arn:aws:kms:us-east-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab was not accepted as given"
  }
}

run "config_kms_key_arn_accepts_1" {
  command = plan
  variables {
    config = merge(var.config, { kms_key_arn = "arn:aws:kms:us-east-1:222222222222:alias/batch-inference" })
  }
  assert {
    condition     = var.config.kms_key_arn == "arn:aws:kms:us-east-1:222222222222:alias/batch-inference"
    error_message = "kms_key_arn = arn:aws:kms:us-east-1:222222222222:alias/batch-inference was not accepted as given"
  }
}

run "deployment_model_name_accepts_63_characters" {
  command = plan
  variables {
    deployment = merge(var.deployment, { model_name = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" })
  }
  assert {
    condition     = aws_sagemaker_model.this.name == "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    error_message = "a 63-character model name was not accepted"
  }
}

# Column names of the results table, which Glue holds in lower case (variables.tf).
run "config_prediction_columns_refuses_0" {
  command = plan
  # the id column and a prediction, equal once lower-cased
  variables {
    config = merge(var.config, { id_column = "ID", prediction_columns = ["id:string", "score"] })
  }
  expect_failures = [var.config]
}

run "config_prediction_columns_refuses_1" {
  command = plan
  # two predictions equal once lower-cased
  variables {
    config = merge(var.config, { prediction_columns = ["Score", "score:double"] })
  }
  expect_failures = [var.config]
}

run "config_prediction_columns_refuses_2" {
  command = plan
  # a prediction named as a column of the results table's own
  variables {
    config = merge(var.config, { prediction_columns = ["Run_Date:string"] })
  }
  expect_failures = [var.config]
}

run "config_prediction_columns_refuses_3" {
  command = plan
  # a prediction named as the table's partition
  variables {
    config = merge(var.config, { prediction_columns = ["DT"] })
  }
  expect_failures = [var.config]
}

run "config_prediction_columns_accepts_0" {
  command = plan
  variables {
    config = merge(var.config, { id_column = "userId", prediction_columns = ["Label:string", "score"] })
  }
  assert {
    condition     = var.config.id_column == "userId" && join(",", var.config.prediction_columns) == "Label:string,score"
    error_message = "mixed-case column names that differ once lower-cased were not accepted"
  }
}

run "config_stage_refuses_0" {
  command = plan
  variables {
    config = merge(var.config, { stage = "staging" })
  }
  expect_failures = [var.config]
}

run "config_account_id_refuses_0" {
  command = plan
  variables {
    config = merge(var.config, { account_id = "12345678901" })
  }
  expect_failures = [var.config]
}

run "config_account_id_refuses_1" {
  command = plan
  variables {
    config = merge(var.config, { account_id = "1234567890123" })
  }
  expect_failures = [var.config]
}

run "config_account_id_refuses_2" {
  command = plan
  variables {
    config = merge(var.config, { account_id = "abcdefghijkl" })
  }
  expect_failures = [var.config]
}

run "config_source_account_id_refuses_0" {
  command = plan
  variables {
    config = merge(var.config, { source_account_id = "0000" })
  }
  expect_failures = [var.config]
}

run "config_region_refuses_0" {
  command = plan
  variables {
    config = merge(var.config, { region = "US-EAST-1" })
  }
  expect_failures = [var.config]
}

run "config_region_refuses_1" {
  command = plan
  variables {
    config = merge(var.config, { region = "useast1" })
  }
  expect_failures = [var.config]
}

run "config_model_package_group_name_refuses_0" {
  command = plan
  variables {
    config = merge(var.config, { model_package_group_name = "-churn" })
  }
  expect_failures = [var.config]
}

run "config_model_package_group_name_refuses_1" {
  command = plan
  variables {
    config = merge(var.config, { model_package_group_name = "churn_model" })
  }
  expect_failures = [var.config]
}

run "config_artifacts_bucket_refuses_0" {
  command = plan
  variables {
    config = merge(var.config, { artifacts_bucket = "Upper-Case-Bucket" })
  }
  expect_failures = [var.config]
}

run "config_sagemaker_execution_role_arn_refuses_0" {
  command = plan
  variables {
    config = merge(var.config, { sagemaker_execution_role_arn = "arn:aws:iam::222222222222:user/someone" })
  }
  expect_failures = [var.config]
}

run "config_sagemaker_execution_role_arn_refuses_1" {
  command = plan
  variables {
    config = merge(var.config, { sagemaker_execution_role_arn = "my-role" })
  }
  expect_failures = [var.config]
}

run "config_kms_key_arn_refuses_0" {
  command = plan
  variables {
    config = merge(var.config, { kms_key_arn = "arn:aws:s3:::bucket" })
  }
  expect_failures = [var.config]
}

run "config_kms_key_arn_refuses_1" {
  command = plan
  variables {
    config = merge(var.config, { kms_key_arn = "1234abcd-12ab-34cd-56ef-1234567890ab" })
  }
  expect_failures = [var.config]
}

run "config_permissions_boundary_arn_refuses_0" {
  command = plan
  variables {
    config = merge(var.config, { permissions_boundary_arn = "arn:aws:iam::222222222222:role/boundary" })
  }
  expect_failures = [var.config]
}

run "config_source_role_arn_refuses_0" {
  command = plan
  variables {
    config = merge(var.config, { source_role_arn = "my-role" })
  }
  expect_failures = [var.config]
}

run "config_input_data_url_refuses_0" {
  command = plan
  variables {
    config = merge(var.config, { input_data_url = "https://bucket/input/" })
  }
  expect_failures = [var.config]
}

run "config_input_data_url_refuses_1" {
  command = plan
  variables {
    config = merge(var.config, { input_data_url = "s3:/bucket" })
  }
  expect_failures = [var.config]
}

run "config_output_data_url_refuses_0" {
  command = plan
  variables {
    config = merge(var.config, { output_data_url = "s3://UPPER/predictions/" })
  }
  expect_failures = [var.config]
}

run "config_output_data_url_refuses_1" {
  command = plan
  variables {
    config = merge(var.config, { output_data_url = "s3://churn-data-222222222222/predictions" })
  }
  expect_failures = [var.config]
}

run "config_input_data_url_refuses_2" {
  command = plan
  variables {
    config = merge(var.config, { input_data_url = "s3://churn-data-222222222222/input" })
  }
  expect_failures = [var.config]
}

run "config_id_policy_refuses_0" {
  command = plan
  variables {
    config = merge(var.config, { id_policy = "ignore" })
  }
  expect_failures = [var.config]
}

run "config_processing_instance_type_refuses_0" {
  command = plan
  variables {
    config = merge(var.config, { processing_instance_type = "m5.xlarge" })
  }
  expect_failures = [var.config]
}

run "config_processing_instance_type_refuses_1" {
  command = plan
  variables {
    config = merge(var.config, { processing_instance_type = "ml.m5" })
  }
  expect_failures = [var.config]
}

run "config_processing_instance_type_refuses_2" {
  command = plan
  variables {
    config = merge(var.config, { processing_instance_type = "ML.M5.XLARGE" })
  }
  expect_failures = [var.config]
}

run "config_processing_instance_count_refuses_0" {
  command = plan
  variables {
    config = merge(var.config, { processing_instance_count = 0 })
  }
  expect_failures = [var.config]
}

run "config_processing_instance_count_refuses_1" {
  command = plan
  variables {
    config = merge(var.config, { processing_instance_count = 101 })
  }
  expect_failures = [var.config]
}

run "config_processing_instance_count_refuses_2" {
  command = plan
  variables {
    config = merge(var.config, { processing_instance_count = 1.5 })
  }
  expect_failures = [var.config]
}

run "config_transform_instance_type_refuses_0" {
  command = plan
  variables {
    config = merge(var.config, { transform_instance_type = "c5.2xlarge" })
  }
  expect_failures = [var.config]
}

run "config_transform_instance_count_refuses_0" {
  command = plan
  variables {
    config = merge(var.config, { transform_instance_count = 0 })
  }
  expect_failures = [var.config]
}

run "config_max_payload_mb_refuses_0" {
  command = plan
  variables {
    config = merge(var.config, { max_payload_mb = 0 })
  }
  expect_failures = [var.config]
}

run "config_max_payload_mb_refuses_1" {
  command = plan
  variables {
    config = merge(var.config, { max_payload_mb = 101 })
  }
  expect_failures = [var.config]
}

run "config_max_concurrent_transforms_refuses_0" {
  command = plan
  variables {
    config = merge(var.config, { max_concurrent_transforms = 65 })
  }
  expect_failures = [var.config]
}

run "config_invocations_timeout_seconds_refuses_0" {
  command = plan
  variables {
    config = merge(var.config, { invocations_timeout_seconds = 3601 })
  }
  expect_failures = [var.config]
}

run "config_invocations_max_retries_refuses_0" {
  command = plan
  variables {
    config = merge(var.config, { invocations_max_retries = 4 })
  }
  expect_failures = [var.config]
}

run "config_schedule_expression_refuses_0" {
  command = plan
  variables {
    config = merge(var.config, { schedule_expression = "rate(0 minutes)" })
  }
  expect_failures = [var.config]
}

run "config_schedule_expression_refuses_1" {
  command = plan
  variables {
    config = merge(var.config, { schedule_expression = "rate(5 weeks)" })
  }
  expect_failures = [var.config]
}

run "config_schedule_expression_refuses_2" {
  command = plan
  variables {
    config = merge(var.config, { schedule_expression = "cron(0 3 * * ?)" })
  }
  expect_failures = [var.config]
}

run "config_schedule_expression_refuses_3" {
  command = plan
  variables {
    config = merge(var.config, { schedule_expression = "at(2030-01-01 00:00:00)" })
  }
  expect_failures = [var.config]
}

run "config_schedule_expression_refuses_4" {
  command = plan
  variables {
    config = merge(var.config, { schedule_expression = "every day" })
  }
  expect_failures = [var.config]
}

run "config_schedule_timezone_refuses_0" {
  command = plan
  variables {
    config = merge(var.config, { schedule_timezone = "Not a zone" })
  }
  expect_failures = [var.config]
}

run "config_schedule_timezone_refuses_1" {
  command = plan
  variables {
    config = merge(var.config, { schedule_timezone = "Europe/" })
  }
  expect_failures = [var.config]
}

run "config_schedule_timezone_refuses_2" {
  command = plan
  variables {
    config = merge(var.config, { schedule_timezone = "+02:00" })
  }
  expect_failures = [var.config]
}

run "config_alarm_email_refuses_0" {
  command = plan
  variables {
    config = merge(var.config, { alarm_email = "not-an-email" })
  }
  expect_failures = [var.config]
}

run "config_alarm_email_refuses_1" {
  command = plan
  variables {
    config = merge(var.config, { alarm_email = "a@b" })
  }
  expect_failures = [var.config]
}

run "config_data_quality_refuses_0" {
  command = plan
  variables {
    config = merge(var.config, { data_quality = "maybe" })
  }
  expect_failures = [var.config]
}

run "config_drift_threshold_refuses_0" {
  command = plan
  variables {
    config = merge(var.config, { drift_threshold = 0 })
  }
  expect_failures = [var.config]
}

run "config_drift_threshold_refuses_1" {
  command = plan
  variables {
    config = merge(var.config, { drift_threshold = 1.5 })
  }
  expect_failures = [var.config]
}

run "config_evaluation_input_url_refuses_0" {
  command = plan
  variables {
    config = merge(var.config, { evaluation_input_url = "s3://bucket-without-prefix" })
  }
  expect_failures = [var.config]
}

run "config_comparison_large_difference_refuses_0" {
  command = plan
  variables {
    config = merge(var.config, { comparison_large_difference = 0 })
  }
  expect_failures = [var.config]
}

run "config_comparison_max_large_share_refuses_0" {
  command = plan
  variables {
    config = merge(var.config, { comparison_max_large_share = 0 })
  }
  expect_failures = [var.config]
}

run "config_comparison_max_large_share_refuses_1" {
  command = plan
  variables {
    config = merge(var.config, { comparison_max_large_share = 2 })
  }
  expect_failures = [var.config]
}

run "config_input_layout_refuses_0" {
  command = plan
  variables {
    config = merge(var.config, { input_layout = "daily" })
  }
  expect_failures = [var.config]
}

run "config_input_lag_days_refuses_0" {
  command = plan
  variables {
    config = merge(var.config, { input_lag_days = -1 })
  }
  expect_failures = [var.config]
}

run "config_input_lag_days_refuses_1" {
  command = plan
  variables {
    config = merge(var.config, { input_lag_days = 31 })
  }
  expect_failures = [var.config]
}

run "config_input_lag_days_refuses_2" {
  command = plan
  variables {
    config = merge(var.config, { input_lag_days = 0.5 })
  }
  expect_failures = [var.config]
}

run "config_missing_input_refuses_0" {
  command = plan
  variables {
    config = merge(var.config, { missing_input = "ignore" })
  }
  expect_failures = [var.config]
}

run "config_processing_volume_gb_refuses_0" {
  command = plan
  variables {
    config = merge(var.config, { processing_volume_gb = 0 })
  }
  expect_failures = [var.config]
}

run "config_processing_volume_gb_refuses_1" {
  command = plan
  variables {
    config = merge(var.config, { processing_volume_gb = 16385 })
  }
  expect_failures = [var.config]
}

run "config_vpc_config_refuses_no_subnet" {
  command = plan
  variables {
    config = merge(var.config, { vpc_config = { subnet_ids = [], security_group_ids = ["sg-1"] } })
  }
  expect_failures = [var.config]
}

run "deployment_model_package_arn_refuses_0" {
  command = plan
  variables {
    deployment = merge(var.deployment, { model_package_arn = "arn:aws:sagemaker:us-east-1:222222222222:model-package-group/churn-model" })
  }
  expect_failures = [var.deployment]
}

run "deployment_model_package_arn_refuses_1" {
  command = plan
  variables {
    deployment = merge(var.deployment, { model_package_arn = "arn:aws:sagemaker:us-east-1:222222222222:model-package/churn-model" })
  }
  expect_failures = [var.deployment]
}

run "deployment_source_model_package_arn_refuses_0" {
  command = plan
  variables {
    deployment = merge(var.deployment, { source_model_package_arn = "arn:aws:sagemaker:us-east-1:111111111111:model-package/churn-model" })
  }
  expect_failures = [var.deployment]
}

run "deployment_source_model_package_version_refuses_0" {
  command = plan
  variables {
    deployment = merge(var.deployment, { source_model_package_version = 0 })
  }
  expect_failures = [var.deployment]
}

run "deployment_source_model_package_version_refuses_1" {
  command = plan
  variables {
    deployment = merge(var.deployment, { source_model_package_version = 2.5 })
  }
  expect_failures = [var.deployment]
}

run "deployment_model_name_refuses_0" {
  command = plan
  variables {
    deployment = merge(var.deployment, { model_name = "-starts-with-hyphen" })
  }
  expect_failures = [var.deployment]
}

run "deployment_model_name_refuses_1" {
  command = plan
  variables {
    deployment = merge(var.deployment, { model_name = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" })
  }
  expect_failures = [var.deployment]
}

run "deployment_model_name_refuses_2" {
  command = plan
  variables {
    deployment = merge(var.deployment, { model_name = "under_score" })
  }
  expect_failures = [var.deployment]
}

run "deployment_pipeline_name_refuses_0" {
  command = plan
  variables {
    deployment = merge(var.deployment, { pipeline_name = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" })
  }
  expect_failures = [var.deployment]
}

run "deployment_pipeline_name_refuses_1" {
  command = plan
  variables {
    deployment = merge(var.deployment, { pipeline_name = "has space" })
  }
  expect_failures = [var.deployment]
}

run "deployment_pipeline_name_refuses_2" {
  command = plan
  variables {
    deployment = merge(var.deployment, { pipeline_name = "ends-with-hyphen-" })
  }
  expect_failures = [var.deployment]
}

run "pipeline_definition_file_must_hold_a_definition" {
  command = plan
  variables {
    # JSON, but no pipeline definition
    deployment = merge(var.deployment, { pipeline_definition_file = "tests/terraform/deployment.fixture.json" })
  }
  expect_failures = [var.deployment]
}

run "pipeline_definition_file_must_exist" {
  command = plan
  variables {
    deployment = merge(var.deployment, { pipeline_definition_file = "build/pre-prod/no-such-definition.json" })
  }
  expect_failures = [var.deployment]
}
