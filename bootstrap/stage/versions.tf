terraform {
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100, < 7"
    }
  }

  # Applied once per stage by an administrator, one workspace per stage (local state: the state
  # bucket does not exist before the first apply; docs/going-live.md shows how to migrate it).
}

provider "aws" {
  region = var.region

  # Refuse credentials of any other account than the stage file's.
  allowed_account_ids = [var.account_id]

  default_tags {
    tags = merge(var.tags, { Stage = var.stage, ManagedBy = "bootstrap/stage" })
  }
}
