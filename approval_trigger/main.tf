# The dev-account approval trigger: EventBridge rule -> Lambda -> GitHub workflow_dispatch.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  # The same values the stage files and bootstrap settings give every other root: nothing typed twice.
  stages            = [for file_name in var.stage_config_files : jsondecode(file("${path.root}/${file_name}"))]
  settings          = jsondecode(file("${path.root}/${var.settings_file}"))
  dev_account_id    = one(distinct([for stage in local.stages : stage.source_account_id]))
  region            = one(distinct([for stage in local.stages : stage.region]))
  group             = one(distinct([for stage in local.stages : stage.model_package_group_name]))
  github_repository = local.settings.github_repository
  # The package's modules at approval_trigger/ inside the zip (they import each other relatively),
  # built reproducibly by scripts/lambda_zip.py.
  lambda_zip = "${path.module}/build/lambda_function.zip"

  # One trigger per model in a dev account: the names derive from the group, unless the
  # settings pin a prefix (a trigger applied before v1.1.0: batch-inference-approval, CHANGELOG).
  # 44 characters fit every name: the rule's "<prefix>-model-package-state" in EventBridge's 64,
  # "<prefix>-dispatch" in Lambda's and IAM's 64, "<prefix>-dlq" in SQS's 80, the table (255),
  # the secret (512) and the key alias (256).
  group_prefix   = lower(local.group)
  derived_prefix = length(local.group_prefix) <= 35 ? "${local.group_prefix}-approval" : "${substr(local.group_prefix, 0, 26)}-${substr(sha256(local.group_prefix), 0, 8)}-approval"
  pinned_prefix  = try(local.settings.approval_trigger_name_prefix, null)
  name_prefix    = coalesce(var.name_prefix, local.pinned_prefix, local.derived_prefix)
  account_id     = data.aws_caller_identity.current.account_id
  partition      = data.aws_partition.current.partition
  function_name  = "${local.name_prefix}-dispatch"
  rule_name      = "${local.name_prefix}-model-package-state"
  log_group_name = "/aws/lambda/${local.function_name}"
  # Built from its parts so that the key policy does not depend on the rule resource.
  rule_arn      = "arn:${local.partition}:events:${local.region}:${local.account_id}:rule/${local.rule_name}"
  log_group_arn = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group_name}"

  dead_letter_queue_name = "${local.name_prefix}-dlq"
  dead_letter_queue_arn  = "arn:${local.partition}:sqs:${local.region}:${local.account_id}:${local.dead_letter_queue_name}"
}

resource "aws_cloudwatch_event_rule" "model_package_state" {
  name        = local.rule_name
  description = "Approved or Rejected versions of ${local.group} dispatch ${var.deploy_workflow}"

  event_pattern = jsonencode({
    source        = ["aws.sagemaker"]
    "detail-type" = ["SageMaker Model Package State Change"]
    detail = {
      ModelPackageGroupName = [local.group]
      ModelApprovalStatus   = ["Approved", "Rejected"]
    }
  })

  # The values read from the stage files and the settings, checked before anything is created.
  lifecycle {
    precondition {
      condition     = can(regex("^[0-9]{12}$", local.dev_account_id)) && can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", local.region))
      error_message = "The stage files' source_account_id must be the 12-digit dev account id and region an AWS region name such as eu-west-1."
    }
    precondition {
      condition     = can(regex("^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$", local.group))
      error_message = "The stage files' model_package_group_name must be a SageMaker model package group name."
    }
    precondition {
      condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", local.github_repository)) && local.github_repository != "OWNER/REPO"
      error_message = "github_repository in bootstrap/settings.tfvars.json must be OWNER/REPO of your repository."
    }
  }
}

resource "aws_cloudwatch_event_target" "dispatch" {
  rule      = aws_cloudwatch_event_rule.model_package_state.name
  target_id = "dispatch-deploy-workflow"
  arn       = aws_lambda_function.dispatch.arn

  retry_policy {
    maximum_event_age_in_seconds = 86400
    maximum_retry_attempts       = 185
  }

  # Events EventBridge cannot deliver to the function land in the same queue as failed dispatches.
  dead_letter_config {
    arn = aws_sqs_queue.dead_letter.arn
  }
}

resource "aws_lambda_permission" "events" {
  statement_id   = "AllowModelPackageStateRule"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.dispatch.function_name
  principal      = "events.amazonaws.com"
  source_arn     = aws_cloudwatch_event_rule.model_package_state.arn
  source_account = local.account_id
}


resource "aws_cloudwatch_log_group" "lambda" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = module.key.arn
}

# timeout (30 s) covers the 20 s GitHub deadline; DEDUP_LEASE_SECONDS (40) outlives an invocation
# and ends before Lambda's first retry (60 s after a failure). See docs/approval-trigger.md.
resource "aws_lambda_function" "dispatch" {
  #checkov:skip=CKV_AWS_117: it calls the public GitHub API only; a VPC would add a NAT gateway and no protection
  #checkov:skip=CKV_AWS_272: the source package is reviewed in this repository and zipped reproducibly by scripts/lambda_zip.py; no Signer profile
  #checkov:skip=CKV_AWS_50: one HTTPS call per approval; logs cover it and X-Ray would need xray:Put* on every resource
  #checkov:skip=CKV_AWS_115: no reservation by default: accounts with the default quota of 10 refuse any (see var.reserved_concurrent_executions)
  # reserved_concurrent_executions: -1 is the provider's documented "no reservation" (it removes one
  # made earlier); 0 would throttle every invocation.
  function_name                  = local.function_name
  description                    = "Dispatches ${var.deploy_workflow} of ${local.github_repository} on model package approvals"
  role                           = aws_iam_role.lambda.arn
  runtime                        = var.lambda_runtime
  handler                        = "approval_trigger.lambda_function.lambda_handler"
  filename                       = local.lambda_zip
  source_code_hash               = fileexists(local.lambda_zip) ? filebase64sha256(local.lambda_zip) : null
  architectures                  = ["arm64"]
  memory_size                    = 128
  timeout                        = 30
  reserved_concurrent_executions = var.reserved_concurrent_executions == null ? -1 : var.reserved_concurrent_executions
  kms_key_arn                    = module.key.arn

  environment {
    variables = {
      GITHUB_REPOSITORY        = local.github_repository
      DEPLOY_WORKFLOW          = var.deploy_workflow
      DEPLOY_REF               = var.deploy_ref
      GITHUB_API_URL           = var.github_api_url
      GITHUB_TOKEN_SECRET_ID   = aws_secretsmanager_secret.github_token.arn
      MODEL_PACKAGE_GROUP_NAME = local.group
      DEDUP_TABLE              = aws_dynamodb_table.dedup.name
      DEDUP_TTL_SECONDS        = tostring(var.dedup_ttl_seconds)
      DEDUP_LEASE_SECONDS      = "40"
    }
  }

  dead_letter_config {
    target_arn = aws_sqs_queue.dead_letter.arn
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.lambda.name
  }

  lifecycle {
    precondition {
      condition     = fileexists(local.lambda_zip)
      error_message = "The function's package is missing: run `python3 scripts/lambda_zip.py` from the repository root first."
    }
  }

  depends_on = [aws_iam_role_policy.lambda]
}

resource "aws_lambda_function_event_invoke_config" "dispatch" {
  function_name                = aws_lambda_function.dispatch.function_name
  maximum_retry_attempts       = var.maximum_retry_attempts
  maximum_event_age_in_seconds = var.maximum_event_age_in_seconds
}
