terraform {
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100, < 7"
    }
  }

  # Applied once by an administrator; the state stays local (keep it safe) unless you migrate
  # it into a state bucket afterwards (docs/going-live.md).
}

provider "aws" {
  region = local.region

  # Refuse credentials of any other account than the one the stage files name as the source.
  allowed_account_ids = [local.dev_account_id]

  default_tags {
    tags = merge(var.tags, { ManagedBy = "bootstrap/dev" })
  }
}
