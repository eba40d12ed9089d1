# modules/kms-key planned by the real AWS provider, offline (no credentials, no AWS call): the key
# every root makes (the stage's alerts key, bootstrap's artifacts and state keys, the approval
# trigger's key). Run from the repository root: terraform -chdir=modules/kms-key test.

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "offline"
  secret_key                  = "offline"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
}

variables {
  description = "Alerts of churn-model pre-prod"
  alias       = "churn-model-pre-prod-alerts"
  account_id  = "222222222222"
  tags        = { Stage = "pre-prod", ModelPackageGroup = "churn-model" }
  # A caller's statement, and one that tries to take over the account's own Sid.
  policy_statements = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "TopicUsesKey"
        Effect    = "Allow"
        Principal = { Service = "sns.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
      },
      {
        Sid       = "AccountDelegatesToIam"
        Effect    = "Allow"
        Principal = { AWS = "*" }
        Action    = "kms:*"
        Resource  = "*"
      },
    ]
  })
}

run "key_is_rotated_tagged_and_named" {
  command = plan

  assert {
    condition = (
      aws_kms_key.this.enable_key_rotation == true &&
      aws_kms_key.this.deletion_window_in_days == 30 &&
      aws_kms_key.this.description == "Alerts of churn-model pre-prod" &&
      aws_kms_key.this.tags == tomap({ Stage = "pre-prod", ModelPackageGroup = "churn-model" }) &&
      aws_kms_alias.this.name == "alias/churn-model-pre-prod-alerts" &&
      output.alias_name == "alias/churn-model-pre-prod-alerts"
    )
    error_message = "the key must be rotated, 30 days pending deletion, tagged as given, aliased alias/<alias>"
  }
}

run "policy_is_the_accounts_statement_plus_the_callers" {
  command = plan

  # The account's statement keeps its Sid against a caller's statement of the same Sid (the
  # document's own statements replace same-Sid ones of source_policy_documents).
  assert {
    condition = {
      for s in jsondecode(output.policy).Statement : s.Sid => [s.Principal, toset(flatten([s.Action])), s.Resource]
      } == {
      AccountDelegatesToIam = [{ AWS = "arn:aws:iam::222222222222:root" }, toset(["kms:*"]), "*"]
      TopicUsesKey          = [{ Service = "sns.amazonaws.com" }, toset(["kms:Decrypt", "kms:GenerateDataKey*"]), "*"]
    }
    error_message = "the key policy: ${output.policy}"
  }

  assert {
    condition     = jsondecode(aws_kms_key.this.policy) == jsondecode(output.policy)
    error_message = "the key must carry the policy the module outputs"
  }
}

run "no_caller_statements_leaves_the_accounts_own" {
  command = plan

  variables {
    policy_statements = null
  }

  assert {
    condition     = [for s in jsondecode(output.policy).Statement : s.Sid] == ["AccountDelegatesToIam"]
    error_message = "without policy_statements the key policy is the account's statement only"
  }
}

run "alias_refuses_the_prefix" {
  command = plan
  variables {
    alias = "alias/churn"
  }
  expect_failures = [var.alias]
}

run "alias_refuses_aws_names" {
  command = plan
  variables {
    alias = "aws/churn"
  }
  expect_failures = [var.alias]
}

run "account_id_refuses_11_digits" {
  command = plan
  variables {
    account_id = "22222222222"
  }
  expect_failures = [var.account_id]
}
