# approval_trigger/ planned by the real AWS provider, offline (no credentials, no AWS call): the
# names of its resources, one trigger per model in a dev account. The function's package must be
# built first (python3 scripts/lambda_zip.py); tests/approval_trigger/test_approval_terraform.py
# runs these in a working copy: terraform -chdir=approval_trigger test.

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "offline"
  secret_key                  = "offline"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
}

override_data {
  target = data.aws_caller_identity.current
  values = { account_id = "111111111111" }
}

variables {
  settings_file = "tests/settings.json"
}

# The repository's stage files: the demo model's group.
run "names_derive_from_the_group" {
  command = plan

  assert {
    condition = (
      aws_lambda_function.dispatch.function_name == "breast-cancer-classifier-approval-dispatch" &&
      aws_iam_role.lambda.name == "breast-cancer-classifier-approval-dispatch" &&
      aws_cloudwatch_event_rule.model_package_state.name == "breast-cancer-classifier-approval-model-package-state" &&
      aws_sqs_queue.dead_letter.name == "breast-cancer-classifier-approval-dlq" &&
      aws_dynamodb_table.dedup.name == "breast-cancer-classifier-approval-dedup" &&
      aws_secretsmanager_secret.github_token.name == "breast-cancer-classifier-approval/github-token" &&
      module.key.alias_name == "alias/breast-cancer-classifier-approval" &&
      aws_cloudwatch_log_group.lambda.name == "/aws/lambda/breast-cancer-classifier-approval-dispatch"
    )
    error_message = "every name must be <group in lower case>-approval<suffix>"
  }
}

# A second model in the same dev account gets names of its own, in lower case.
run "another_model_gets_other_names_in_lower_case" {
  command = plan

  variables {
    stage_config_files = ["tests/churn-model.json"]
  }

  assert {
    condition = (
      aws_lambda_function.dispatch.function_name == "churnmodel-approval-dispatch" &&
      aws_cloudwatch_event_rule.model_package_state.name == "churnmodel-approval-model-package-state" &&
      aws_sqs_queue.dead_letter.name == "churnmodel-approval-dlq" &&
      aws_dynamodb_table.dedup.name == "churnmodel-approval-dedup" &&
      aws_secretsmanager_secret.github_token.name == "churnmodel-approval/github-token" &&
      module.key.alias_name == "alias/churnmodel-approval"
    )
    error_message = "another group must get its own names, lower-cased"
  }

  assert {
    condition     = jsondecode(aws_cloudwatch_event_rule.model_package_state.event_pattern).detail.ModelPackageGroupName == ["ChurnModel"]
    error_message = "the rule must match the group as SageMaker names it"
  }
}

# The longest group names: every name within its service's limit, and two groups that share
# their first 35 characters still apart.
run "the_longest_group_fits_every_limit" {
  command = plan

  variables {
    stage_config_files = ["tests/long-group.json"]
  }

  assert {
    condition = (
      length(aws_lambda_function.dispatch.function_name) <= 64 &&
      length(aws_iam_role.lambda.name) <= 64 &&
      length(aws_cloudwatch_event_rule.model_package_state.name) <= 64 &&
      length(aws_sqs_queue.dead_letter.name) <= 80 &&
      length(aws_dynamodb_table.dedup.name) <= 255 &&
      length(aws_secretsmanager_secret.github_token.name) <= 512 &&
      length(module.key.alias_name) <= 256
    )
    error_message = "a derived name is longer than its service allows"
  }

  # The group's first 26 characters, 8 hex digits of the SHA-256 of the whole group (lower case).
  assert {
    condition     = aws_cloudwatch_event_rule.model_package_state.name == "a-model-package-group-name-787e203f-approval-model-package-state"
    error_message = "a long group's names must be its first 26 characters and a hash of it"
  }
}

run "two_long_groups_sharing_a_beginning_get_different_names" {
  command = plan

  variables {
    stage_config_files = ["tests/long-group-2.json"]
  }

  assert {
    condition     = aws_cloudwatch_event_rule.model_package_state.name == "a-model-package-group-name-b73a73a0-approval-model-package-state"
    error_message = "two groups that differ after their 35th character must not share names"
  }
}

# A trigger applied before v1.1.0 keeps its names: the settings pin the old prefix (CHANGELOG).
run "the_settings_pin_a_deployed_triggers_names" {
  command = plan

  variables {
    settings_file = "tests/pinned-settings.json"
  }

  assert {
    condition = (
      aws_lambda_function.dispatch.function_name == "batch-inference-approval-dispatch" &&
      aws_cloudwatch_event_rule.model_package_state.name == "batch-inference-approval-model-package-state" &&
      aws_sqs_queue.dead_letter.name == "batch-inference-approval-dlq" &&
      aws_dynamodb_table.dedup.name == "batch-inference-approval-dedup" &&
      aws_secretsmanager_secret.github_token.name == "batch-inference-approval/github-token" &&
      module.key.alias_name == "alias/batch-inference-approval"
    )
    error_message = "approval_trigger_name_prefix in the settings must name every resource"
  }
}

run "an_explicit_name_prefix_wins" {
  command = plan

  variables {
    settings_file = "tests/pinned-settings.json"
    name_prefix   = "churn_trigger"
  }

  assert {
    condition = (
      aws_lambda_function.dispatch.function_name == "churn_trigger-dispatch" &&
      aws_dynamodb_table.dedup.name == "churn_trigger-dedup" &&
      module.key.alias_name == "alias/churn_trigger"
    )
    error_message = "-var name_prefix must name every resource"
  }
}

run "a_name_prefix_too_long_for_the_rule_is_refused" {
  command = plan

  variables {
    name_prefix = "a-prefix-too-long-for-the-rule-name-of-64-chars"
  }

  expect_failures = [var.name_prefix]
}

run "a_pinned_prefix_too_long_for_the_rule_is_refused" {
  command = plan

  variables {
    settings_file = "tests/bad-pin-settings.json"
  }

  expect_failures = [var.settings_file]
}
