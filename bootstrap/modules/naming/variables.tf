variable "model_package_group_name" {
  description = "Name of the model package group (the stage files' model_package_group_name)."
  type        = string
}
