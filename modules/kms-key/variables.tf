variable "description" {
  description = "What the key encrypts."
  type        = string
}

variable "alias" {
  description = "Name of the key's alias, without the `alias/` prefix."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9/_-]{1,250}$", var.alias)) && !startswith(var.alias, "aws/") && !startswith(var.alias, "alias/")
    error_message = "alias must be 1-250 letters, digits, /, _ or -, without the alias/ prefix and not under aws/."
  }
}

variable "account_id" {
  description = "The 12-digit id of the account that owns the key; its root administers the key through IAM."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be a 12-digit AWS account id."
  }
}

variable "policy_statements" {
  description = "A policy document (an `aws_iam_policy_document`'s `json`) whose statements the key policy adds to the account's own; `null` adds none. Sids must differ from `AccountDelegatesToIam`."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags of the key, set when it is created (an IAM policy may require them: aws:RequestTag on kms:CreateKey)."
  type        = map(string)
  default     = {}
}
