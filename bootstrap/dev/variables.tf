variable "github_repository" {
  description = "The repository that deploys, as OWNER/REPO (bootstrap/settings.tfvars.json)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository)) && var.github_repository != "OWNER/REPO"
    error_message = "github_repository must be OWNER/REPO of your repository (set it in bootstrap/settings.tfvars.json)."
  }
}

variable "dev_artifacts_bucket" {
  description = "The dev bucket that holds the registered models' artifacts (bootstrap/settings.tfvars.json)."
  type        = string
}

variable "dev_artifacts_prefix" {
  description = "Key prefix of the artifacts in that bucket, for example `training/`; empty means the whole bucket."
  type        = string
  default     = ""
}

variable "dev_artifacts_kms_key_arn" {
  description = "ARN of the customer managed KMS key of the dev artifacts. `null` means SSE-S3 (no key to share)."
  type        = string
  default     = null
}

variable "dev_image_repositories" {
  description = "Names of this account's ECR repositories the model's own images are pushed to (bootstrap/settings.tfvars.json); each must exist. Empty: the model uses AWS's images only."
  type        = list(string)
  default     = []
}

variable "manage_dev_image_repository_policies" {
  description = "Controls whether this root owns the WHOLE policy of each of dev_image_repositories. `false` outputs the statements to merge into them instead."
  type        = bool
  default     = true
}

variable "approval_trigger_name_prefix" {
  description = "Read by approval_trigger/ only (the settings file is shared): the prefix of the trigger's resource names. `null` derives it from the group."
  type        = string
  default     = null
}

variable "stage_config_files" {
  description = "The stage files, relative to this directory: account ids, region and group are read from them."
  type        = list(string)
  default     = ["../../pre-prod-config.tfvars.json", "../../prod-config.tfvars.json"]
}

variable "oidc_provider_arn" {
  description = "ARN of this account's existing GitHub OIDC provider. `null` creates it."
  type        = string
  default     = null
}

variable "manage_dev_artifacts_bucket_policy" {
  description = "Controls whether this root owns the dev artifacts bucket's WHOLE policy. `false` outputs the statements to merge into it instead."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Extra tags on every resource."
  type        = map(string)
  default     = {}
}
