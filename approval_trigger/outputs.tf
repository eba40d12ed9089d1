output "lambda_function_arn" {
  description = "ARN of the function that dispatches the deploy workflow."
  value       = aws_lambda_function.dispatch.arn
}

output "lambda_function_name" {
  description = "Name of the function that dispatches the deploy workflow."
  value       = aws_lambda_function.dispatch.function_name
}

output "event_rule_arn" {
  description = "ARN of the EventBridge rule on the group's Approved and Rejected state changes."
  value       = aws_cloudwatch_event_rule.model_package_state.arn
}

output "github_token_secret_arn" {
  description = "ARN of the secret to put the GitHub token in (the token itself, or JSON with a token key)."
  value       = aws_secretsmanager_secret.github_token.arn
}

output "dedup_table_name" {
  description = "Name of the DynamoDB table that drops repeated deliveries of one state change."
  value       = aws_dynamodb_table.dedup.name
}

output "dead_letter_queue_url" {
  description = "URL of the dead-letter queue holding events whose dispatch failed after all retries."
  value       = aws_sqs_queue.dead_letter.id
}

output "kms_key_arn" {
  description = "ARN of the key encrypting the secret, table, queue, logs and environment."
  value       = module.key.arn
}
