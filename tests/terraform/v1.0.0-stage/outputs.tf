################################################################################
# SageMaker
################################################################################

output "sagemaker_pipeline_name" {
  description = "Name of the stage's SageMaker pipeline."
  value       = aws_sagemaker_pipeline.this.pipeline_name
}

output "sagemaker_pipeline_arn" {
  description = "ARN of the stage's SageMaker pipeline."
  value       = aws_sagemaker_pipeline.this.arn
}

output "sagemaker_model_name" {
  description = "Name of the SageMaker model the schedule passes to the pipeline as ModelName."
  value       = aws_sagemaker_model.this.name
}

################################################################################
# Schedule
################################################################################

output "scheduler_schedule_name" {
  description = "Name of the EventBridge Scheduler schedule that starts the pipeline."
  value       = aws_scheduler_schedule.this.name
}

output "scheduler_schedule_group_name" {
  description = "Name of the schedule group that holds the schedule (the ScheduleGroup dimension of its metrics)."
  value       = aws_scheduler_schedule_group.this.name
}

output "scheduler_dead_letter_queue_url" {
  description = "URL of the SQS queue that receives invocations the schedule could not deliver."
  value       = aws_sqs_queue.schedule_dead_letter.url
}

################################################################################
# Alerts and dashboard
################################################################################

output "sns_topic_arn" {
  description = "ARN of the KMS-encrypted SNS topic that receives the failure alerts."
  value       = aws_sns_topic.alerts.arn
}

output "sns_topic_subscription_arn" {
  description = "ARN of the email subscription to the alerts topic; empty when alarm_email is null."
  value       = try(aws_sns_topic_subscription.alarm_email[0].arn, "")
}

output "cloudwatch_dashboard_name" {
  description = "Name of the CloudWatch dashboard of the stage's pipeline and schedule."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

################################################################################
# Results for SQL (docs/schedules.md)
################################################################################

output "glue_results_database_name" {
  description = "Glue database holding the predictions table (Athena: SELECT ... FROM <database>.predictions WHERE dt = 'YYYY-MM-DD')."
  value       = aws_glue_catalog_database.results.name
}

output "glue_results_table_name" {
  description = "Glue table of the authoritative predictions, one partition `dt` per date."
  value       = aws_glue_catalog_table.predictions.name
}

output "results_authoritative_prefix" {
  description = "Prefix of the per-date manifests `dt=<date>/symlink.txt` naming the authoritative Parquet files."
  value       = local.results_prefix
}
