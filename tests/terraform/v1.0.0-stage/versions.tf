terraform {
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100, < 7"
    }
  }

  # Completed per stage at init: -backend-config="bucket=..." -backend-config="key=..." -backend-config="region=...".
  # S3 native state locking (Terraform >= 1.10) replaces the DynamoDB lock table.
  backend "s3" {
    use_lockfile = true
    encrypt      = true
  }
}

provider "aws" {
  region = var.region

  # Refuse to plan or apply with credentials for any other account than the stage's.
  allowed_account_ids = [var.account_id]

  default_tags {
    tags = local.tags
  }
}
