variable "stage_config_files" {
  description = "The stage files, relative to this directory: the dev account id (`source_account_id`), the region and the model package group are read from them; they must agree."
  type        = list(string)
  default     = ["../pre-prod-config.tfvars.json", "../prod-config.tfvars.json"]
}

variable "settings_file" {
  description = "The bootstrap settings file, relative to this directory: `github_repository` (OWNER/REPO) is read from it."
  type        = string
  default     = "../bootstrap/settings.tfvars.json"
}

variable "deploy_workflow" {
  description = "File name (or id) of the workflow to dispatch."
  type        = string
  default     = "deploy.yml"
}

variable "deploy_ref" {
  description = "Branch or tag the deploy workflow is dispatched on."
  type        = string
  default     = "main"
}

variable "github_api_url" {
  description = "GitHub REST API base URL; change it for GitHub Enterprise Server."
  type        = string
  default     = "https://api.github.com"
}

variable "name_prefix" {
  description = "Prefix of every resource name (function, table, queue, secret, rule)."
  type        = string
  default     = "batch-inference-approval"
}

variable "lambda_runtime" {
  description = "Python runtime of the function: python3.12 or python3.13."
  type        = string
  default     = "python3.13"
}

variable "reserved_concurrent_executions" {
  description = "Concurrency reserved for (and limiting) the function, at least 1; null (the default) reserves none. Lambda refuses any reservation that leaves the account fewer than 10 unreserved executions (\"decreases account's UnreservedConcurrentExecution below its minimum value of [10]\"), and new accounts have a quota of 10, so reserve only where the quota was raised."
  type        = number
  default     = null

  validation {
    # 0 would not mean "unreserved": Lambda then throttles every invocation of the function.
    condition     = var.reserved_concurrent_executions == null ? true : var.reserved_concurrent_executions >= 1
    error_message = "reserved_concurrent_executions must be null (no reservation) or at least 1."
  }
}

variable "maximum_retry_attempts" {
  description = "Lambda asynchronous retries of a failed dispatch (0-2) before the event goes to the dead-letter queue."
  type        = number
  default     = 2
}

variable "maximum_event_age_in_seconds" {
  description = "Oldest event (60-21600 seconds) Lambda still retries before sending it to the dead-letter queue."
  type        = number
  default     = 21600
}

variable "dedup_ttl_seconds" {
  description = "How long a dispatched state change is remembered to drop repeated deliveries, in seconds."
  type        = number
  default     = 604800
}

variable "protect_dedup_table" {
  description = "Controls whether the de-duplication table refuses deletion. Set false, apply, then destroy, to take the trigger down (docs/going-live.md)."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "Retention of the function's log group in days (a CloudWatch Logs retention value)."
  type        = number
  default     = 365
}

variable "dlq_message_retention_seconds" {
  description = "How long the dead-letter queue keeps failed events, in seconds (at most 1209600, 14 days)."
  type        = number
  default     = 1209600
}

variable "tags" {
  description = "Tags applied to every resource through the provider's default_tags."
  type        = map(string)
  default     = {}
}
