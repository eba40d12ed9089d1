output "arn" {
  description = "ARN of the key."
  value       = aws_kms_key.this.arn
}

output "key_id" {
  description = "Id of the key."
  value       = aws_kms_key.this.key_id
}

output "alias_name" {
  description = "Name of the alias, `alias/...`."
  value       = aws_kms_alias.this.name
}

output "policy" {
  description = "The key policy: the account's statement and the caller's."
  value       = data.aws_iam_policy_document.this.json
}
