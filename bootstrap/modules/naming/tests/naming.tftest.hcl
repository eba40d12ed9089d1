# bootstrap/modules/naming: the names both bootstrap roots give roles and state buckets. No
# provider: plain expressions. Run from the repository root: terraform -chdir=bootstrap/modules/naming test.

run "a_mixed_case_group_gets_lower_case_bucket_names_and_keeps_its_role_names" {
  command = plan

  variables {
    model_package_group_name = "ChurnModel"
  }

  assert {
    condition     = output.bucket_prefix == "churnmodel"
    error_message = "S3 bucket names are lower case: the state buckets' prefix must be the group lower cased"
  }

  assert {
    condition     = output.name_prefix == "ChurnModel" && output.role_names["pre-prod"]["deploy-pre-prod"] == "ChurnModel-deploy-pre-prod"
    error_message = "role names keep the group's case (nothing deployed is renamed)"
  }
}

run "a_lower_case_group_keeps_every_name" {
  command = plan

  variables {
    model_package_group_name = "churn-model"
  }

  assert {
    condition     = output.bucket_prefix == "churn-model" && output.name_prefix == "churn-model"
    error_message = "a lower-case group's names must not change"
  }
}

run "the_longest_group_makes_valid_bucket_names" {
  command = plan

  variables {
    model_package_group_name = "A-Model-Package-Group-Name-Of-Sixty-Three-Characters-In-Length1"
  }

  assert {
    condition = (
      output.bucket_prefix == "a-model-package-group-name-of-si" &&
      length("${output.bucket_prefix}-tfstate-222222222222") <= 63 &&
      can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", "${output.bucket_prefix}-tfstate-222222222222"))
    )
    error_message = "the state bucket of a 63-character group must be a valid bucket name of at most 63 characters"
  }
}

run "a_group_ending_in_a_hyphen_at_32_characters_drops_it" {
  command = plan

  variables {
    model_package_group_name = "Churn-Model-Of-Thirty-One-Chars--Two"
  }

  assert {
    condition     = output.bucket_prefix == "churn-model-of-thirty-one-chars" && output.name_prefix == "Churn-Model-Of-Thirty-One-Chars"
    error_message = "trailing hyphens of the 32-character cut are dropped from both prefixes"
  }
}

run "a_group_whose_bucket_names_s3_reserves_is_refused_xn" {
  command = plan

  variables {
    model_package_group_name = "XN--churn"
  }

  expect_failures = [output.bucket_prefix]
}

run "a_group_whose_bucket_names_s3_reserves_is_refused_sthree" {
  command = plan

  variables {
    model_package_group_name = "Sthree"
  }

  expect_failures = [output.bucket_prefix]
}

run "a_group_whose_bucket_names_s3_reserves_is_refused_demo" {
  command = plan

  variables {
    model_package_group_name = "amzn-s3-demo-churn"
  }

  expect_failures = [output.bucket_prefix]
}

# The group's pattern counts letters and digits only: its 63 characters are checked apart.
run "a_group_of_64_characters_is_refused" {
  command = plan

  variables {
    model_package_group_name = "A-Model-Package-Group-Name-Of-Sixty-Four-Characters-In-Length-12"
  }

  expect_failures = [var.model_package_group_name]
}

run "a_name_that_is_no_group_name_is_refused" {
  command = plan

  variables {
    model_package_group_name = "churn_model"
  }

  expect_failures = [var.model_package_group_name]
}
