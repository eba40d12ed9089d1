# Moves from v1.0.0, whose resources were those of the repository-root module itself: the same
# state (same backend key) now holds them under module.stage, so the first plan after the upgrade
# only moves them (and updates tags and the alerts key policy); nothing is destroyed. A
# repository made at the new layout never had these addresses: the blocks then do nothing.

moved {
  from = aws_sagemaker_model.this
  to   = module.stage.aws_sagemaker_model.this
}

moved {
  from = aws_sagemaker_pipeline.this
  to   = module.stage.aws_sagemaker_pipeline.this
}

moved {
  from = aws_scheduler_schedule_group.this
  to   = module.stage.aws_scheduler_schedule_group.this
}

moved {
  from = aws_sqs_queue.schedule_dead_letter
  to   = module.stage.aws_sqs_queue.schedule_dead_letter
}

moved {
  from = aws_iam_role.scheduler
  to   = module.stage.aws_iam_role.scheduler
}

moved {
  from = aws_iam_role_policy.scheduler
  to   = module.stage.aws_iam_role_policy.scheduler
}

moved {
  from = aws_scheduler_schedule.this
  to   = module.stage.aws_scheduler_schedule.this
}

moved {
  from = aws_sns_topic.alerts
  to   = module.stage.aws_sns_topic.alerts
}

moved {
  from = aws_sns_topic_policy.alerts
  to   = module.stage.aws_sns_topic_policy.alerts
}

moved {
  from = aws_sns_topic_subscription.alarm_email
  to   = module.stage.aws_sns_topic_subscription.alarm_email
}

moved {
  from = aws_cloudwatch_event_rule.pipeline_failed
  to   = module.stage.aws_cloudwatch_event_rule.pipeline_failed
}

moved {
  from = aws_cloudwatch_event_target.pipeline_failed
  to   = module.stage.aws_cloudwatch_event_target.pipeline_failed
}

moved {
  from = aws_cloudwatch_metric_alarm.pipeline_failed
  to   = module.stage.aws_cloudwatch_metric_alarm.pipeline_failed
}

moved {
  from = aws_cloudwatch_metric_alarm.schedule_dead_letter
  to   = module.stage.aws_cloudwatch_metric_alarm.schedule_dead_letter
}

moved {
  from = aws_cloudwatch_metric_alarm.input_skipped
  to   = module.stage.aws_cloudwatch_metric_alarm.input_skipped
}

moved {
  from = aws_glue_catalog_database.results
  to   = module.stage.aws_glue_catalog_database.results
}

moved {
  from = aws_glue_catalog_table.predictions
  to   = module.stage.aws_glue_catalog_table.predictions
}

moved {
  from = aws_cloudwatch_dashboard.this
  to   = module.stage.aws_cloudwatch_dashboard.this
}

moved {
  from = aws_cloudwatch_metric_alarm.data_quality
  to   = module.stage.aws_cloudwatch_metric_alarm.data_quality
}

moved {
  from = aws_kms_key.alerts
  to   = module.stage.module.alerts_key.aws_kms_key.this
}

moved {
  from = aws_kms_alias.alerts
  to   = module.stage.module.alerts_key.aws_kms_alias.this
}
