output "registry_reader_role_arn" {
  description = "ARN of the registry reader: the repository variable DEV_READ_ROLE_ARN."
  value       = aws_iam_role.registry_reader.arn
}

output "oidc_provider_arn" {
  description = "ARN of the GitHub OIDC provider of the dev account."
  value       = local.oidc_provider_arn
}

output "dev_artifacts_bucket_policy_statements" {
  description = "Statements to merge into the dev artifacts bucket's policy (empty when manage_dev_artifacts_bucket_policy applies them)."
  value       = var.manage_dev_artifacts_bucket_policy ? "" : jsonencode(local.bucket_statements)
}

output "dev_artifacts_key_policy_statements" {
  description = "Statements to merge into the dev artifacts KMS key's policy; empty when the artifacts use no customer managed key."
  value       = var.dev_artifacts_kms_key_arn == null ? "" : jsonencode(local.key_statements)
}

output "dev_image_repository_policy_statements" {
  description = "Statements to merge into the policy of each of dev_image_repositories (empty when this root applies them, or when none is listed)."
  value       = var.manage_dev_image_repository_policies || length(var.dev_image_repositories) == 0 ? "" : jsonencode(local.image_repository_statements)
}

output "github_repository_variables" {
  description = "Repository variables of the GitHub repository (Settings > Secrets and variables > Actions > Variables)."
  value       = { DEV_READ_ROLE_ARN = aws_iam_role.registry_reader.arn }
}

output "approval_trigger_backend_config" {
  description = "The -backend-config values of `terraform init` in approval_trigger/ (its state lives in this account, encrypted with its own key)."
  value = {
    bucket     = module.state_bucket.s3_bucket_id
    key        = "approval-trigger.tfstate"
    region     = local.region
    kms_key_id = module.state_key.arn
  }
}
