################################################################################
# Dev account: the GitHub OIDC provider and the registry reader, plus what the
# stage roles need to read the model artifacts (bucket and key policy statements).
################################################################################

data "aws_partition" "current" {}

locals {
  stages         = [for file_name in var.stage_config_files : jsondecode(file("${path.root}/${file_name}"))]
  dev_account_id = one(distinct([for stage in local.stages : stage.source_account_id]))
  region         = one(distinct([for stage in local.stages : stage.region]))
  group          = one(distinct([for stage in local.stages : stage.model_package_group_name]))
  accounts       = { for stage in local.stages : stage.stage => stage.account_id }
  partition      = data.aws_partition.current.partition

  create_oidc_provider = var.oidc_provider_arn == null
  oidc_provider_arn    = local.create_oidc_provider ? aws_iam_openid_connect_provider.github[0].arn : var.oidc_provider_arn

  reader = module.naming.roles.dev["registry-reader"]

  # S3 bucket names are lower case (bootstrap/modules/naming `bucket_prefix`).
  state_bucket = "${module.naming.bucket_prefix}-tfstate-${local.dev_account_id}"

  # Stage roles that read the dev registry and copy the artifacts server-side (roles.json).
  stage_readers = flatten([
    for stage, account in local.accounts : [
      for name, role in module.naming.roles[stage] :
      "arn:${local.partition}:iam::${account}:role/${module.naming.role_names[stage][name]}"
      if role.reads_dev_artifacts
    ]
  ])
  stage_roots = distinct([for arn in local.stage_readers : "arn:${local.partition}:iam::${split(":", arn)[4]}:root"])

  policy_vars = {
    partition                 = local.partition
    region                    = local.region
    account_id                = local.dev_account_id
    source_account_id         = local.dev_account_id
    registry_group            = lower(local.group)
    dev_artifacts_bucket      = var.dev_artifacts_bucket
    dev_artifacts_prefix      = var.dev_artifacts_prefix
    dev_artifacts_kms_key_arn = var.dev_artifacts_kms_key_arn == null ? "" : var.dev_artifacts_kms_key_arn
    oidc_provider_arn         = local.oidc_provider_arn
    github_subject            = "repo:${var.github_repository}:${local.reader.github_subject}"
    stage_account_roots       = local.stage_roots
    stage_role_arns           = local.stage_readers
  }
  reader_policies = concat(local.reader.policies, var.dev_artifacts_kms_key_arn == null ? [] : ["dev-artifacts-key"])

  # Statements the owner of the dev artifacts bucket and key merges (or this root applies).
  bucket_statements = jsondecode(templatefile("${module.naming.policies_dir}/dev-artifacts-bucket.json.tftpl", local.policy_vars)).Statement
  key_statements    = jsondecode(templatefile("${module.naming.policies_dir}/dev-artifacts-key-policy.json.tftpl", local.policy_vars)).Statement
}

module "naming" {
  source = "../modules/naming"

  model_package_group_name = local.group
}

resource "aws_iam_openid_connect_provider" "github" {
  count = local.create_oidc_provider ? 1 : 0

  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]
}

resource "aws_iam_role" "registry_reader" {
  name                 = module.naming.role_names.dev["registry-reader"]
  description          = local.reader.description
  assume_role_policy   = jsonencode(jsondecode(templatefile("${module.naming.policies_dir}/registry-reader-trust.json.tftpl", local.policy_vars)))
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "registry_reader" {
  for_each = toset(local.reader_policies)

  name   = each.key
  role   = aws_iam_role.registry_reader.id
  policy = jsonencode(jsondecode(templatefile("${module.naming.policies_dir}/${each.key}.json.tftpl", local.policy_vars)))
}

resource "aws_s3_bucket_policy" "dev_artifacts" {
  count = var.manage_dev_artifacts_bucket_policy ? 1 : 0

  bucket = var.dev_artifacts_bucket
  policy = jsonencode({ Version = "2012-10-17", Statement = local.bucket_statements })
}

################################################################################
# State of the approval trigger (approval_trigger/, applied in this account)
################################################################################

module "state_key" {
  source = "../../modules/kms-key"

  description = "Terraform state of the ${local.group} approval trigger (dev)."
  alias       = "${module.naming.name_prefix}-tfstate-dev"
  account_id  = local.dev_account_id
}

moved {
  from = aws_kms_key.state
  to   = module.state_key.aws_kms_key.this
}

moved {
  from = aws_kms_alias.state
  to   = module.state_key.aws_kms_alias.this
}

module "state_bucket" {
  source = "../modules/bucket"

  name        = local.state_bucket
  kms_key_arn = module.state_key.arn
}
