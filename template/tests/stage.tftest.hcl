# `terraform test` of this repository's root (make check; ci.yml): the stage module at the pin
# planned with each stage file as it is, against a mock AWS provider (no account, no
# credentials). A stage value the module refuses fails here, before any deploy.

mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = { partition = "aws", dns_suffix = "amazonaws.com" }
  }
  # Policy documents are rendered by the provider: a mock renders a valid empty one.
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

run "pre_prod_plans" {
  command = plan

  variables {
    stage           = "pre-prod"
    deployment_file = "tests/deployment.tfvars.json"
  }

  # The credentials are the stage account's (the provider's allowed_account_ids checks it).
  override_data {
    target = module.stage.data.aws_caller_identity.current
    values = { account_id = jsondecode(file("pre-prod-config.tfvars.json")).account_id }
  }

  assert {
    condition     = local.config.stage == "pre-prod" && local.config.account_id != local.config.source_account_id
    error_message = "pre-prod-config.tfvars.json must be the pre-prod stage's file, naming the pre-prod account."
  }
}

run "prod_plans" {
  command = plan

  variables {
    stage           = "prod"
    deployment_file = "tests/deployment.tfvars.json"
  }

  override_data {
    target = module.stage.data.aws_caller_identity.current
    values = { account_id = jsondecode(file("prod-config.tfvars.json")).account_id }
  }

  assert {
    condition     = local.config.stage == "prod" && local.config.account_id != local.config.source_account_id
    error_message = "prod-config.tfvars.json must be the prod stage's file, naming the prod account."
  }
}
