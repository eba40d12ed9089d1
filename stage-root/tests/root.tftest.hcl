# The root as a model repository runs it, with a mock provider (no AWS, no credentials): it reads
# the stage file and build.py's outputs from where Terraform runs, and passes them to the stage
# module. Run from the repository root: terraform -chdir=stage-root test (build.py's outputs:
# the fixture, as build/ is empty in a fresh checkout).

mock_provider "aws" {
  # What STS would answer; the provider's allowed_account_ids keeps it the stage file's account.
  mock_data "aws_caller_identity" {
    defaults = { account_id = "222222222222" }
  }

  # The provider renders these locally; a mock's random text is no JSON (kms-key reads one).
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\": \"2012-10-17\", \"Statement\": []}" }
  }
}

variables {
  deployment_file = "tests/terraform/deployment.fixture.json"
}

run "pre_prod_reads_its_stage_file_and_the_build" {
  command = plan

  variables {
    stage = "pre-prod"
  }

  assert {
    condition = (
      output.sagemaker_model_name == "breast-cancer-classifier-fixture-v3" &&
      output.sagemaker_pipeline_name == "breast-cancer-classifier-fixture-batch-inference" &&
      startswith(output.results_authoritative_prefix, jsondecode(file("${path.cwd}/pre-prod-config.tfvars.json")).output_data_url)
    )
    error_message = "the root did not pass the pre-prod stage file and the build to the module"
  }
}

run "prod_reads_its_own_stage_file" {
  command = plan

  variables {
    stage = "prod"
  }

  assert {
    condition     = startswith(output.results_authoritative_prefix, jsondecode(file("${path.cwd}/prod-config.tfvars.json")).output_data_url)
    error_message = "the root did not read prod-config.tfvars.json for stage prod"
  }
}

run "only_the_two_stages" {
  command = plan

  variables {
    stage = "dev"
  }

  expect_failures = [var.stage]
}
