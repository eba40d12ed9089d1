################################################################################
# The names every bootstrap root agrees on, and who holds which policy.
# bootstrap/policies/roles.json is read by Terraform and by tests/iam alike.
################################################################################

locals {
  # Role names are "<prefix>-<role>": at most 32 + 16 characters, within IAM's 64.
  name_prefix = replace(substr(var.model_package_group_name, 0, 32), "/-+$/", "")

  roles = jsondecode(file("${path.module}/../../policies/roles.json"))

  role_names = {
    for account, roles in local.roles : account => {
      for name, role in roles : name => "${local.name_prefix}-${name}"
    }
  }
}
