variable "model_package_group_name" {
  description = "Name of the model package group (the stage files' model_package_group_name)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$", var.model_package_group_name)) && length(var.model_package_group_name) <= 63
    error_message = "model_package_group_name must be a model package group name: 1-63 letters, digits and hyphens, starting and ending with a letter or digit."
  }
}
