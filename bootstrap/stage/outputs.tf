output "kms_key_arn" {
  description = "ARN of the artifacts and data key: the stage file's kms_key_arn."
  value       = module.artifacts_key.arn
}

output "permissions_boundary_arn" {
  description = "ARN of the permissions boundary: the stage file's permissions_boundary_arn."
  value       = aws_iam_policy.boundary.arn
}

output "github_environment_variables" {
  description = "Variables of each GitHub environment of this stage: AWS_ROLE_ARN, TF_STATE_BUCKET, TF_STATE_KEY, TF_STATE_KMS_KEY_ARN."
  value = {
    for name, role in local.github_roles : trimprefix(role.github_subject, "environment:") => {
      AWS_ROLE_ARN    = aws_iam_role.github[name].arn
      TF_STATE_BUCKET = module.state_bucket.s3_bucket_id
      TF_STATE_KEY    = local.state_key
      # The backend encrypts the state with this key (-backend-config=kms_key_id), not SSE-S3.
      TF_STATE_KMS_KEY_ARN = module.state_key.arn
    } if lookup(role, "github_variable", "") == ""
  }
}

output "github_role_variables" {
  description = "Roles another stage's jobs assume (roles.json github_variable): the variable name, its environment and the role ARN, e.g. PROD_READ_ROLE_ARN for the pre-prod environment."
  value = {
    for name, role in local.github_roles : role.github_variable => {
      environment = trimprefix(role.github_subject, "environment:")
      arn         = aws_iam_role.github[name].arn
    } if lookup(role, "github_variable", "") != ""
  }
}

output "sagemaker_execution_role_arn" {
  description = "ARN of the SageMaker execution role (equals the stage file's sagemaker_execution_role_arn)."
  value       = aws_iam_role.execution.arn
}

output "oidc_provider_arn" {
  description = "ARN of the GitHub OIDC provider of this account."
  value       = local.oidc_provider_arn
}

output "model_images_repository_url" {
  description = "URL of the stage's model image repository, where build.py copies the model's own images."
  value       = aws_ecr_repository.model_images.repository_url
}
