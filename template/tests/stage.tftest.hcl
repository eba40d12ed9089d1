# `terraform test` of this repository's root (make check; ci.yml): the stage module at the pin
# planned with each stage file as it is, against a mock AWS provider (no account, no
# credentials). A stage value the module refuses fails here, before any deploy.

mock_provider "aws" {}

run "pre_prod_plans" {
  command = plan

  variables {
    stage           = "pre-prod"
    deployment_file = "tests/deployment.tfvars.json"
  }

  assert {
    condition     = local.config.stage == "pre-prod" && local.config.account_id != ""
    error_message = "pre-prod-config.tfvars.json is not the pre-prod stage's file."
  }
}

run "prod_plans" {
  command = plan

  variables {
    stage           = "prod"
    deployment_file = "tests/deployment.tfvars.json"
  }

  assert {
    condition     = local.config.stage == "prod" && local.config.account_id != local.config.source_account_id
    error_message = "prod-config.tfvars.json must name the prod account, not the dev account."
  }
}
