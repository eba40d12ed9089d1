variable "name" {
  description = "Name of the bucket."
  type        = string
}

variable "kms_key_arn" {
  description = "ARN of the customer managed KMS key the bucket encrypts with by default."
  type        = string
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which a replaced or deleted object version is removed."
  type        = number
  default     = 90
}

variable "expirations" {
  description = "Key prefix to days after which objects under it expire (for example intermediate run data)."
  type        = map(number)
  default     = {}
}
