variable "stage_config_files" {
  description = "The stage files, relative to this directory: the dev account id (`source_account_id`), the region and the model package group are read from them; they must agree."
  type        = list(string)
  default     = ["../pre-prod-config.tfvars.json", "../prod-config.tfvars.json"]
}

variable "settings_file" {
  description = "The bootstrap settings file, relative to this directory: `github_repository` (OWNER/REPO) is read from it, and `approval_trigger_name_prefix` when it sets one (see name_prefix)."
  type        = string
  default     = "../bootstrap/settings.tfvars.json"

  # Checked before any resource is planned with it (a resource's own name check would come first).
  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,44}$", coalesce(try(jsondecode(file("${path.root}/${var.settings_file}")).approval_trigger_name_prefix, null), "unset")))
    error_message = "approval_trigger_name_prefix in the settings file must be 1-44 letters, digits, - or _ (the prefix of the trigger's resource names), or absent (null)."
  }
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
  description = "Prefix of every resource name (function, role, rule, queue, table, secret, key alias): 1-44 letters, digits, `-` or `_`. `null` means bootstrap/settings.tfvars.json's `approval_trigger_name_prefix` when it sets one, else `<group in lower case>-approval` (a group over 35 characters: its first 26, `-`, 8 hex digits of its SHA-256), one trigger per model in a dev account."
  type        = string
  default     = null

  validation {
    condition     = var.name_prefix == null || can(regex("^[a-zA-Z0-9_-]{1,44}$", var.name_prefix))
    error_message = "name_prefix must be null or 1-44 letters, digits, - or _: the rule's name, <prefix>-model-package-state, may have 64 characters."
  }
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
