output "name_prefix" {
  description = "Prefix of every bootstrap role and policy name (the group name, at most 32 characters)."
  value       = local.name_prefix
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
