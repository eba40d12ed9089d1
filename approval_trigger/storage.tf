# Encrypted state of the trigger: the key, the token secret, the de-duplication table and the
# dead-letter queue.

# The key's statements beyond the account's own (modules/kms-key adds that one).
data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_109: a key policy's resource is always the key itself ("*"); each statement names one service for one resource
  #checkov:skip=CKV_AWS_111: a key policy's resource is always the key itself ("*"); each statement names one service for one resource
  #checkov:skip=CKV_AWS_356: a key policy's resource is always the key itself ("*")
  statement {
    sid       = "LogsEncryptTheFunctionLogGroup"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = [local.log_group_arn]
    }
  }

  statement {
    sid       = "EventBridgeSendsToTheDeadLetterQueue"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [local.rule_arn]
    }
  }
}

module "key" {
  source = "../modules/kms-key"

  description       = "Approval trigger: token secret, de-duplication table, dead-letter queue, logs"
  alias             = local.name_prefix
  account_id        = local.account_id
  policy_statements = data.aws_iam_policy_document.key.json
}

moved {
  from = aws_kms_key.this
  to   = module.key.aws_kms_key.this
}

moved {
  from = aws_kms_alias.this
  to   = module.key.aws_kms_alias.this
}

resource "aws_secretsmanager_secret" "github_token" {
  #checkov:skip=CKV2_AWS_57: a GitHub token cannot be rotated by a Secrets Manager rotation function; rotate it in GitHub and put the new value
  name                    = "${local.name_prefix}/github-token"
  description             = "GitHub token that may dispatch ${var.deploy_workflow} of ${local.github_repository} (value set outside Terraform)"
  kms_key_id              = module.key.arn
  recovery_window_in_days = 7
}

resource "aws_dynamodb_table" "dedup" {
  name                        = "${local.name_prefix}-dedup"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  deletion_protection_enabled = var.protect_dedup_table

  attribute {
    name = "pk"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = module.key.arn
  }
}

# The queue's policy is part of the queue: the AWS provider waits for a new queue's attributes to
# settle (6 reads, 5 s apart) and would wait as long again for a separate aws_sqs_queue_policy,
# on create and on destroy. Its ARN is built from its parts, so the policy can name it.
resource "aws_sqs_queue" "dead_letter" {
  name                      = local.dead_letter_queue_name
  kms_master_key_id         = module.key.arn
  message_retention_seconds = var.dlq_message_retention_seconds
  policy                    = data.aws_iam_policy_document.dead_letter.json
}

# Repositories applied before the policy moved into the queue: forget the separate resource
# without clearing the policy it set (the queue's own `policy` holds the same document).
removed {
  from = aws_sqs_queue_policy.dead_letter

  lifecycle {
    destroy = false
  }
}

data "aws_iam_policy_document" "dead_letter" {
  statement {
    sid       = "RuleSendsUndeliveredEvents"
    actions   = ["sqs:SendMessage"]
    resources = [local.dead_letter_queue_arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.model_package_state.arn]
    }
  }
}
