################################################################################
# One stage account: the GitHub OIDC provider, the deploy (and plan) roles, the permissions
# boundary of every role they create, the SageMaker execution role, the artifacts, data and
# state buckets with their KMS keys. Every policy document comes from bootstrap/policies/.
################################################################################

data "aws_partition" "current" {}

locals {
  partition     = data.aws_partition.current.partition
  prefix        = module.naming.name_prefix
  boundary_name = "${local.prefix}-boundary-${var.stage}"
  policies      = module.naming.policies_dir

  input_bucket  = regex("^s3://([^/]+)/(.*)$", var.input_data_url)
  output_bucket = regex("^s3://([^/]+)/(.*)$", var.output_data_url)
  # The comparison's evaluation rows may live anywhere: the execution role reads them there.
  evaluation_input = var.evaluation_input_url == null ? [] : [regex("^s3://([^/]+)/(.*)$", var.evaluation_input_url)]
  data_buckets     = var.create_data_bucket ? toset([local.input_bucket[0], local.output_bucket[0]]) : toset([])
  state_bucket     = coalesce(var.state_bucket, "${module.naming.bucket_prefix}-tfstate-${var.account_id}")
  state_key        = coalesce(var.state_key, "batch-inference/${var.stage}.tfstate")
  execution_role   = regex("^arn:[^:]+:iam::([0-9]{12}):role(/.*/|/)([^/]+)$", var.sagemaker_execution_role_arn)

  # The names the root module gives this stage's resources (batch-config-template.tf derives them
  # from the same pipeline name with the same expression, `local.name`): the policies name them
  # exactly, so no pattern of one model's roles can match another model's resource, whatever the
  # group names (`churn` and `churn-v2` share every prefix).
  pipeline_name = "${var.model_package_group_name}-${var.stage}-batch-inference"
  module_name   = length(local.pipeline_name) <= 54 ? local.pipeline_name : "${substr(local.pipeline_name, 0, 45)}-${substr(sha256(local.pipeline_name), 0, 8)}"
  module_alarm_names = [
    for suffix in ["execution-failed", "schedule-dlq-not-empty", "data-quality", "input-skipped"] :
    "${local.module_name}-${suffix}"
  ]
  module_alarm_and_dashboard_arns = concat(
    [for alarm in local.module_alarm_names : "arn:${local.partition}:cloudwatch:${var.region}:${var.account_id}:alarm:${alarm}"],
    ["arn:${local.partition}:cloudwatch::${var.account_id}:dashboard/${local.module_name}"],
  )
  # SageMaker model names carry the version (promotion/package.py model_name_for): they are
  # matched by this prefix AND the ModelPackageGroup tag (aws:RequestTag / aws:ResourceTag).
  sagemaker_prefix = lower(substr(var.model_package_group_name, 0, 30))

  create_oidc_provider = var.oidc_provider_arn == null
  oidc_provider_arn    = local.create_oidc_provider ? aws_iam_openid_connect_provider.github[0].arn : var.oidc_provider_arn

  # The variables of every template (testbed/iam_policies.py renders them with the same names).
  policy_vars = {
    partition                       = local.partition
    region                          = var.region
    account_id                      = var.account_id
    source_account_id               = var.source_account_id
    model_package_group_name        = var.model_package_group_name
    registry_group                  = lower(var.model_package_group_name)
    module_name                     = local.module_name
    sagemaker_prefix                = local.sagemaker_prefix
    results_database                = replace(lower(local.module_name), "/[^a-z0-9_]/", "_")
    sagemaker_pipeline_name         = lower(local.pipeline_name)
    module_alarm_and_dashboard_arns = local.module_alarm_and_dashboard_arns
    artifacts_bucket                = var.artifacts_bucket
    artifacts_kms_key_arn           = module.artifacts_key.arn
    input_bucket                    = local.input_bucket[0]
    input_prefix                    = local.input_bucket[1]
    output_bucket                   = local.output_bucket[0]
    output_prefix                   = local.output_bucket[1]
    data_bucket_arns                = sort(distinct(concat(["arn:${local.partition}:s3:::${local.input_bucket[0]}", "arn:${local.partition}:s3:::${local.output_bucket[0]}"], [for e in local.evaluation_input : "arn:${local.partition}:s3:::${e[0]}"])))
    # What the runs read: the input prefix, the smoke runs' inputs, the evaluation rows.
    input_object_arns = concat([
      "arn:${local.partition}:s3:::${local.input_bucket[0]}/${local.input_bucket[1]}*",
      "arn:${local.partition}:s3:::${local.input_bucket[0]}/smoke/*/input/*",
    ], [for e in local.evaluation_input : "arn:${local.partition}:s3:::${e[0]}/${e[1]}*"])
    execution_role_arn        = var.sagemaker_execution_role_arn
    registry_reader_role_arn  = "arn:${local.partition}:iam::${var.source_account_id}:role/${module.naming.role_names.dev["registry-reader"]}"
    dev_artifacts_bucket      = var.dev_artifacts_bucket
    dev_artifacts_prefix      = var.dev_artifacts_prefix
    dev_artifacts_kms_key_arn = var.dev_artifacts_kms_key_arn == null ? "" : var.dev_artifacts_kms_key_arn
    state_bucket              = local.state_bucket
    state_key                 = local.state_key
    state_kms_key_arn         = module.state_key.arn
    # Built from its parts: the boundary policy is itself rendered from these variables.
    permissions_boundary_arn = "arn:${local.partition}:iam::${var.account_id}:policy/${local.boundary_name}"
    oidc_provider_arn        = local.oidc_provider_arn
    # images.tf
    model_images_repository_arn = local.model_images_repository_arn
    dev_image_repository_arns   = local.dev_image_repository_arns
    aws_image_repository_arns   = local.aws_image_repository_arns
  }

  github_roles = module.naming.roles[var.stage]
  github_role_policies = merge([
    for name, role in local.github_roles : {
      for template in concat(role.policies, role.reads_dev_artifacts && var.dev_artifacts_kms_key_arn != null ? ["dev-artifacts-key"] : []) :
      "${name}/${template}" => { role = name, template = template, status = try(role.created_package_status, "") }
    }
  ]...)
}

module "naming" {
  source = "../modules/naming"

  model_package_group_name = var.model_package_group_name
}

resource "aws_iam_openid_connect_provider" "github" {
  count = local.create_oidc_provider ? 1 : 0

  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]
}

################################################################################
# KMS keys: artifacts and data (used by build.py and the pipeline), Terraform state
# (modules/kms-key: the account administers each through IAM; nothing else in their policies)
################################################################################

module "artifacts_key" {
  source = "../../modules/kms-key"

  description = "Model artifacts, step scripts and data of ${var.model_package_group_name} (${var.stage})."
  alias       = "${local.prefix}-artifacts-${var.stage}"
  account_id  = var.account_id
}

module "state_key" {
  source = "../../modules/kms-key"

  description = "Terraform state of ${var.model_package_group_name} (${var.stage})."
  alias       = "${local.prefix}-tfstate-${var.stage}"
  account_id  = var.account_id
}

moved {
  from = aws_kms_key.artifacts
  to   = module.artifacts_key.aws_kms_key.this
}

moved {
  from = aws_kms_alias.artifacts
  to   = module.artifacts_key.aws_kms_alias.this
}

moved {
  from = aws_kms_key.state
  to   = module.state_key.aws_kms_key.this
}

moved {
  from = aws_kms_alias.state
  to   = module.state_key.aws_kms_alias.this
}

################################################################################
# Buckets
################################################################################

module "artifacts_bucket" {
  source = "../modules/bucket"

  name        = var.artifacts_bucket
  kms_key_arn = module.artifacts_key.arn
  expirations = { "pipeline-runs/" = var.pipeline_runs_expiration_days }
}

module "data_bucket" {
  source   = "../modules/bucket"
  for_each = local.data_buckets

  name        = each.key
  kms_key_arn = module.artifacts_key.arn
}

module "state_bucket" {
  source = "../modules/bucket"

  name        = local.state_bucket
  kms_key_arn = module.state_key.arn
}

################################################################################
# Roles: GitHub deploy / plan roles, the permissions boundary, the SageMaker execution role
################################################################################

resource "aws_iam_policy" "boundary" {
  name        = local.boundary_name
  description = "Permissions boundary every role the ${var.stage} deploy role creates must carry."
  policy      = jsonencode(jsondecode(templatefile("${local.policies}/boundary.json.tftpl", local.policy_vars)))
}

resource "aws_iam_role" "github" {
  for_each = local.github_roles

  name        = module.naming.role_names[var.stage][each.key]
  description = each.value.description
  # One hour, or what roles.json says: the pre-prod deploy role's job may run 120 minutes with
  # one session (deploy.yml's role-duration-seconds), a smoke run waiting inside it.
  max_session_duration = lookup(each.value, "session_seconds", 3600)
  assume_role_policy = jsonencode(jsondecode(templatefile("${local.policies}/github-trust.json.tftpl", merge(local.policy_vars, {
    github_subject = "repo:${var.github_repository}:${each.value.github_subject}"
  }))))
}

# Customer-managed policies, one per template: a role's inline policies may not exceed 10,240
# characters in total, which the pre-prod deploy role's templates do; a managed policy may hold
# 6,144 and a role 10 of them (IAM and STS quotas). tests/iam checks both limits.
resource "aws_iam_policy" "github" {
  for_each = local.github_role_policies

  name        = "${module.naming.role_names[var.stage][each.value.role]}-${each.value.template}"
  description = "${each.value.template} of the ${each.value.role} role (bootstrap/policies)."
  policy = jsonencode(jsondecode(templatefile("${local.policies}/${each.value.template}.json.tftpl", merge(local.policy_vars, {
    created_package_status = each.value.status
  }))))
}

resource "aws_iam_role_policy_attachment" "github" {
  for_each = local.github_role_policies

  role       = aws_iam_role.github[each.value.role].name
  policy_arn = aws_iam_policy.github[each.key].arn
}

resource "aws_iam_role" "execution" {
  name               = local.execution_role[2]
  path               = local.execution_role[1]
  description        = "SageMaker runs the ${var.stage} batch-inference pipeline, its jobs and its model as this role."
  assume_role_policy = jsonencode(jsondecode(templatefile("${local.policies}/sagemaker-trust.json.tftpl", local.policy_vars)))

  lifecycle {
    precondition {
      condition     = local.execution_role[0] == var.account_id
      error_message = "sagemaker_execution_role_arn names another account than account_id."
    }
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "execution"
  role   = aws_iam_role.execution.id
  policy = jsonencode(jsondecode(templatefile("${local.policies}/execution.json.tftpl", local.policy_vars)))
}
