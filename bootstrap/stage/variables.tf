################################################################################
# From <stage>-config.tfvars.json (-var-file=../../<stage>-config.tfvars.json). Terraform warns
# about the stage keys declared only by the root module; bootstrap does not need them.
################################################################################

variable "stage" {
  description = "Name of the stage. Valid values: `pre-prod`, `prod`. Must equal the workspace name."
  type        = string

  validation {
    condition     = contains(["pre-prod", "prod"], var.stage)
    error_message = "stage must be pre-prod or prod."
  }

  # One workspace per stage keeps their states apart (docs/going-live.md step 2).
  validation {
    condition     = terraform.workspace == var.stage
    error_message = "Select the workspace of the stage first: terraform workspace select -or-create ${var.stage}."
  }
}

variable "account_id" {
  description = "The stage's 12-digit AWS account id."
  type        = string
}

variable "region" {
  description = "AWS Region of the stage."
  type        = string
}

variable "source_account_id" {
  description = "12-digit id of the dev account that holds the model registry."
  type        = string
}

variable "model_package_group_name" {
  description = "Name of the model package group; names the roles and scopes their policies."
  type        = string
}

variable "artifacts_bucket" {
  description = "Name of the artifacts bucket this root creates."
  type        = string
}

variable "sagemaker_execution_role_arn" {
  description = "ARN of the SageMaker execution role this root creates (its name and path are taken from it)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", var.sagemaker_execution_role_arn))
    error_message = "sagemaker_execution_role_arn must be an IAM role ARN."
  }
}

variable "input_data_url" {
  description = "`s3://` prefix the scheduled run scores, ending with `/`; its bucket is created when create_data_bucket is true."
  type        = string

  validation {
    condition     = can(regex("^s3://[^/]+/(.+/)?$", var.input_data_url))
    error_message = "input_data_url must be an s3:// prefix ending with / (without it the roles' grants reach sibling prefixes)."
  }
}

variable "output_data_url" {
  description = "`s3://` prefix predictions are written under, ending with `/`; its bucket is created when create_data_bucket is true."
  type        = string

  validation {
    # The execution and status roles are granted `<prefix>*`: without the slash that also covers
    # a sibling prefix (`predictions` would reach `predictions-churn-v2/`), another model's.
    condition     = can(regex("^s3://[^/]+/(.+/)?$", var.output_data_url))
    error_message = "output_data_url must be an s3:// prefix ending with / (without it the roles' grants reach sibling prefixes)."
  }
}

variable "evaluation_input_url" {
  description = "`s3://` prefix of the champion/challenger evaluation rows (the stage file's key); the execution role reads it. `null`: no comparison."
  type        = string
  default     = null
}

variable "tags" {
  description = "Extra tags on every resource."
  type        = map(string)
  default     = {}
}

################################################################################
# From bootstrap/settings.tfvars.json (shared with bootstrap/dev)
################################################################################

variable "github_repository" {
  description = "The repository that deploys, as OWNER/REPO."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository)) && var.github_repository != "OWNER/REPO"
    error_message = "github_repository must be OWNER/REPO of your repository (set it in bootstrap/settings.tfvars.json)."
  }
}

variable "dev_artifacts_bucket" {
  description = "The dev bucket that holds the registered models' artifacts."
  type        = string
}

variable "dev_artifacts_prefix" {
  description = "Key prefix of the artifacts in that bucket; empty means the whole bucket."
  type        = string
  default     = ""
}

variable "dev_artifacts_kms_key_arn" {
  description = "ARN of the dev artifacts' customer managed KMS key. `null` means SSE-S3."
  type        = string
  default     = null
}

variable "dev_image_repositories" {
  description = "Names of the dev account's ECR repositories the model's own images are pushed to (the roles that promote read them). Empty: the model uses AWS's images only."
  type        = list(string)
  default     = []
}

variable "approval_trigger_name_prefix" {
  description = "Read by approval_trigger/ only (the settings file is shared): the prefix of the trigger's resource names. `null` derives it from the group."
  type        = string
  default     = null
}

################################################################################
# This root only
################################################################################

variable "oidc_provider_arn" {
  description = "ARN of this account's existing GitHub OIDC provider. `null` creates it."
  type        = string
  default     = null
}

variable "create_data_bucket" {
  description = "Controls whether the bucket(s) of input_data_url and output_data_url are created here."
  type        = bool
  default     = true
}

variable "state_bucket" {
  description = "Name of the Terraform state bucket to create. `null` means `<prefix in lower case>-tfstate-<account id>`."
  type        = string
  default     = null
}

variable "state_key" {
  description = "Key of the root module's state in that bucket (the TF_STATE_KEY variable). `null` means `batch-inference/<stage>.tfstate`."
  type        = string
  default     = null
}

variable "pipeline_runs_expiration_days" {
  description = "Days after which a run's intermediate data under `pipeline-runs/` of the artifacts bucket expires (it holds feature values)."
  type        = number
  default     = 30
}
