output "name_prefix" {
  description = "Prefix of every bootstrap role and policy name (the group name, at most 32 characters)."
  value       = local.name_prefix
}

output "bucket_prefix" {
  description = "Prefix of the state buckets' names, `<bucket_prefix>-tfstate-<account id>`: name_prefix in lower case (S3 bucket names are lower case)."
  value       = local.bucket_prefix

  # Checked at plan: S3 would refuse the name at apply, after the apply created other resources.
  precondition {
    condition = (
      can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", "${local.bucket_prefix}-tfstate-000000000000")) &&
      !anytrue([for reserved in local.reserved_bucket_prefixes : startswith("${local.bucket_prefix}-tfstate-", reserved)])
    )
    error_message = "The group ${var.model_package_group_name} makes the state buckets ${local.bucket_prefix}-tfstate-<account id>, which S3 refuses: a bucket name is 3-63 lower-case letters, digits and hyphens and starts with none of ${join(", ", local.reserved_bucket_prefixes)}."
  }
}

output "roles" {
  description = "bootstrap/policies/roles.json: by account (dev, pre-prod, prod), each role's GitHub subject and policy templates."
  value       = local.roles
}

output "role_names" {
  description = "Role names by account and role (roles.json keys)."
  value       = local.role_names
}

output "policies_dir" {
  description = "Directory of the policy templates (templatefile input)."
  value       = abspath("${path.module}/../../policies")
}
