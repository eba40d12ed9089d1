################################################################################
# The model's images in this stage: the repository build.py copies the model's own images into
# (by digest, create-only: promotion/image_copy.py), and the grants around it. The execution role
# pulls only from it and from AWS's framework registries of the region (execution.json.tftpl).
################################################################################

locals {
  # promotion/images.py stage_repository: the group in lower case, hyphen runs collapsed.
  model_images_repository     = "model-images/${replace(lower(var.model_package_group_name), "/-+/", "-")}"
  model_images_repository_arn = "arn:${local.partition}:ecr:${var.region}:${var.account_id}:repository/${local.model_images_repository}"
  # The model's repositories in the dev account (bootstrap/settings.tfvars.json): the roles that
  # promote read them directly; bootstrap/dev lets them in through each repository's policy.
  dev_image_repository_arns = [
    for name in var.dev_image_repositories : "arn:${local.partition}:ecr:${var.region}:${var.source_account_id}:repository/${name}"
  ]
  # AWS's image registries of the region, from the SageMaker SDK (scripts/aws_image_registries.py).
  aws_image_accounts = lookup(jsondecode(file("${local.policies}/aws-image-registries.json")), var.region, [])
  aws_image_repository_arns = [
    for account in local.aws_image_accounts : "arn:${local.partition}:ecr:${var.region}:${account}:repository/*"
  ]
  dev_image_readers = {
    for name, role in local.github_roles : name => role
    if role.reads_dev_artifacts && length(var.dev_image_repositories) > 0
  }
}

resource "aws_ecr_repository" "model_images" {
  name = local.model_images_repository
  # A promoted tag never moves; a package names its image by digest anyway.
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  # ECR uses the key through grants it creates on the repository's behalf (ECR User Guide,
  # "Encryption at rest"): the roles that push and pull need no KMS permission for it.
  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = module.artifacts_key.arn
  }

  lifecycle {
    precondition {
      condition     = length(local.aws_image_accounts) > 0
      error_message = "bootstrap/policies/aws-image-registries.json lists no AWS image registry for this region: run `make docs` with a SageMaker SDK that knows the region."
    }
  }
}

# Only untagged images expire: build.py tags every manifest it puts, so these are leftovers of
# interrupted copies, never an image a promoted package names.
resource "aws_ecr_lifecycle_policy" "model_images" {
  repository = aws_ecr_repository.model_images.name
  policy     = file("${local.policies}/model-images-lifecycle.json")
}

# Inline, not managed: the pre-prod deploy role holds the 10 managed policies a role may have.
resource "aws_iam_role_policy" "dev_images" {
  for_each = local.dev_image_readers

  name   = "dev-images"
  role   = aws_iam_role.github[each.key].id
  policy = jsonencode(jsondecode(templatefile("${local.policies}/dev-images.json.tftpl", local.policy_vars)))
}
