# The stage module: resources only. The root that calls it (stage-root/main.tf here, main.tf in
# a model's repository) configures the backend and the provider.
terraform {
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100, < 7"
    }
  }
}
