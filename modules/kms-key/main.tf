################################################################################
# One customer managed KMS key: rotated yearly, 30 days pending deletion, an alias, and a key
# policy that lets the account administer the key through IAM, plus the caller's statements.
# Used by every root: the stage module's alerts key, bootstrap's artifacts and state keys, the
# approval trigger's key.
################################################################################

data "aws_partition" "current" {}

data "aws_iam_policy_document" "this" {
  #checkov:skip=CKV_AWS_109:key policy; "*" is this key and the account root delegates its use to IAM policies, as AWS's default key policy does
  #checkov:skip=CKV_AWS_111:key policy; "*" is this key and the account root delegates its use to IAM policies, as AWS's default key policy does
  #checkov:skip=CKV_AWS_356:key policy; "*" is this key and the account root delegates its use to IAM policies, as AWS's default key policy does
  source_policy_documents = var.policy_statements == null ? [] : [var.policy_statements]

  # AWS's default key policy (AWS KMS Developer Guide, "Default key policy"): without it, only
  # the statements below could ever change the key again.
  statement {
    sid       = "AccountDelegatesToIam"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${var.account_id}:root"]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = var.description
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.this.json
  tags                    = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.alias}"
  target_key_id = aws_kms_key.this.key_id
}
