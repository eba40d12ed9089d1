################################################################################
# The names every bootstrap root agrees on, and who holds which policy.
# bootstrap/policies/roles.json is read by Terraform and by tests/iam alike.
################################################################################

locals {
  # Role names are "<prefix>-<role>": at most 32 + 16 characters, within IAM's 64.
  name_prefix = replace(substr(var.model_package_group_name, 0, 32), "/-+$/", "")

  # S3 bucket names take lower-case letters only ("General purpose bucket naming rules", Amazon
  # S3 User Guide): the state buckets "<bucket_prefix>-tfstate-<account id>" are the prefix lower
  # cased (role names keep the group's case; IAM takes either). At most 32 + 21 characters.
  bucket_prefix = lower(local.name_prefix)
  # The prefixes S3 reserves (the same page; output.bucket_prefix refuses them at plan). A name
  # here never ends in a reserved suffix: it ends in the account id.
  reserved_bucket_prefixes = ["xn--", "sthree-", "amzn-s3-demo-"]

  roles = jsondecode(file("${path.module}/../../policies/roles.json"))

  role_names = {
    for account, roles in local.roles : account => {
      for name, role in roles : name => "${local.name_prefix}-${name}"
    }
  }
}
