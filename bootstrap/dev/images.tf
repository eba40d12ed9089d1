################################################################################
# The model's image repositories in this account (bootstrap/settings.tfvars.json
# dev_image_repositories): their policies let exactly the stage roles that promote read the images
# build.py copies into the stages. Not the registry reader: the resolve job assumes it too, and
# never needs an image.
################################################################################

locals {
  image_repository_statements = jsondecode(templatefile("${module.naming.policies_dir}/dev-image-repository.json.tftpl", local.policy_vars)).Statement
}

data "aws_ecr_repository" "model_images" {
  for_each = toset(var.dev_image_repositories)

  name = each.key
}

# The repository's WHOLE policy: a repository has one. `manage_dev_image_repository_policies =
# false` prints the statements to merge instead (output dev_image_repository_policy_statements).
resource "aws_ecr_repository_policy" "model_images" {
  for_each = var.manage_dev_image_repository_policies ? data.aws_ecr_repository.model_images : {}

  repository = each.value.name
  policy     = jsonencode({ Version = "2012-10-17", Statement = local.image_repository_statements })
}
