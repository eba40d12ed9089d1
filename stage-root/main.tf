# The root that deploys one stage: the state backend, the provider, and the stage module. A model
# repository holds this file as its main.tf; only `source` differs (there:
# "git::https://github.com/<owner>/<template>.git?ref=<tag>", the template at its pinned version).
#
# Run from the repository root: the stage file and build/ are read from the directory Terraform
# runs in (path.cwd, which is where `terraform -chdir=...` was typed), so the same text works in a
# model repository (main.tf at its root) and here (terraform -chdir=stage-root). docs/terraform.md.

terraform {
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100, < 7"
    }
  }

  # Completed per stage at init: -backend-config="bucket=..." -backend-config="key=..."
  # -backend-config="region=..." -backend-config="kms_key_id=...". S3 native state locking.
  backend "s3" {
    use_lockfile = true
    encrypt      = true
  }
}

variable "stage" {
  description = "The stage to deploy, `pre-prod` or `prod`: its `<stage>-config.tfvars.json` is the stage file."
  type        = string

  validation {
    condition     = contains(["pre-prod", "prod"], var.stage)
    error_message = "stage must be \"pre-prod\" or \"prod\"."
  }
}

variable "deployment_file" {
  description = "build.py's deployment.tfvars.json of the promoted version; `null` means `build/<stage>/deployment.tfvars.json`. Relative paths are read from where Terraform runs."
  type        = string
  default     = null
}

variable "assume_role_arn" {
  description = "Role the provider assumes in the stage account; `null` means the ambient credentials (deploy.yml: the job's OIDC role)."
  type        = string
  default     = null
}

locals {
  config          = jsondecode(file("${path.cwd}/${var.stage}-config.tfvars.json"))
  deployment_file = coalesce(var.deployment_file, "build/${var.stage}/deployment.tfvars.json")
  deployment      = jsondecode(file(startswith(local.deployment_file, "/") ? local.deployment_file : "${path.cwd}/${local.deployment_file}"))
}

provider "aws" {
  region = local.config.region

  # Refuse to plan or apply with credentials for any other account than the stage's.
  allowed_account_ids = [local.config.account_id]

  dynamic "assume_role" {
    for_each = var.assume_role_arn == null ? [] : [var.assume_role_arn]

    content {
      role_arn     = assume_role.value
      session_name = "terraform-${var.stage}"
    }
  }
}

module "stage" {
  source = "../"

  config     = local.config
  deployment = local.deployment
}

output "sagemaker_pipeline_name" {
  description = "Name of the stage's SageMaker pipeline."
  value       = module.stage.sagemaker_pipeline_name
}

output "sagemaker_pipeline_arn" {
  description = "ARN of the stage's SageMaker pipeline."
  value       = module.stage.sagemaker_pipeline_arn
}

output "sagemaker_model_name" {
  description = "Name of the SageMaker model the schedule passes to the pipeline as ModelName."
  value       = module.stage.sagemaker_model_name
}

output "scheduler_schedule_name" {
  description = "Name of the EventBridge Scheduler schedule that starts the pipeline."
  value       = module.stage.scheduler_schedule_name
}

output "scheduler_schedule_group_name" {
  description = "Name of the schedule group that holds the schedule."
  value       = module.stage.scheduler_schedule_group_name
}

output "scheduler_dead_letter_queue_url" {
  description = "URL of the SQS queue that receives invocations the schedule could not deliver."
  value       = module.stage.scheduler_dead_letter_queue_url
}

output "sns_topic_arn" {
  description = "ARN of the KMS-encrypted SNS topic that receives the failure alerts."
  value       = module.stage.sns_topic_arn
}

output "sns_topic_subscription_arn" {
  description = "ARN of the email subscription to the alerts topic; empty when alarm_email is null."
  value       = module.stage.sns_topic_subscription_arn
}

output "cloudwatch_dashboard_name" {
  description = "Name of the CloudWatch dashboard of the stage's pipeline and schedule."
  value       = module.stage.cloudwatch_dashboard_name
}

output "glue_results_database_name" {
  description = "Glue database holding the predictions table."
  value       = module.stage.glue_results_database_name
}

output "glue_results_table_name" {
  description = "Glue table of the authoritative predictions, one partition `dt` per date."
  value       = module.stage.glue_results_table_name
}

output "results_authoritative_prefix" {
  description = "Prefix of the per-date manifests `dt=<date>/symlink.txt` naming the authoritative Parquet files."
  value       = module.stage.results_authoritative_prefix
}
