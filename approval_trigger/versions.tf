terraform {
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100, < 7"
    }
  }

  # Completed at init: -backend-config="bucket=..." -backend-config="key=..." -backend-config="region=...".
  backend "s3" {
    use_lockfile = true
    encrypt      = true
  }
}

provider "aws" {
  region = local.region

  # Refuse to plan or apply with credentials for any other account than the dev account.
  allowed_account_ids = [local.dev_account_id]

  default_tags {
    tags = var.tags
  }
}
