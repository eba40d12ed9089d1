"""Every shipped statement is either proven necessary by a local flow or justified by documentation.

PROVEN: (role, template, Sid) -> the flow that fails without it and the action its one-line error
names. DOCUMENTED: (template, Sid) -> why no local flow can exercise it and the documentation that
requires it (docs/iam.md carries the same table for readers). Cases are ordered so that flows which
need the promoted pre-prod stage run before the cases that empty a stage.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    """One statement dropped, and how its absence shows."""

    role: str
    template: str
    sid: str
    flow: str
    action: str

    def __str__(self) -> str:
        return f"{self.role}:{self.sid}"


def _promotion_cases(role: str, stage: str) -> list[Case]:
    dry, full = f"{stage} dry run", f"{stage} promotion"
    return [
        Case(role, "promote", "AssumeRegistryReader", dry, "sts:AssumeRole"),
        Case(role, "promote", "FindPromotedPackages", dry, "sagemaker:ListModelPackageGroups"),
        Case(role, "promote", "ReadModelCopies", dry, "s3:GetObject"),
        Case(role, "promote", "CreatePackageGroup", full, "sagemaker:CreateModelPackageGroup"),
        Case(role, "promote", "CreatePackages", full, "sagemaker:CreateModelPackage"),
        Case(role, "promote", "DescribePromotedPackages", full, "sagemaker:DescribeModelPackage"),
        Case(role, "promote", "WriteModelCopies", full, "s3:PutObject"),
        Case(role, "promote", "ListArtifactsBucket", full, "s3:ListBucket"),
        Case(role, "promote", "UploadStepScripts", full, "s3:PutObject"),
    ]


PROVEN: list[Case] = [
    Case("registry-reader", "registry-reader", "ResolveLatestApproved", "resolve",
         "sagemaker:ListModelPackages"),
    Case("registry-reader", "registry-reader", "DescribeSourcePackages", "resolve",
         "sagemaker:DescribeModelPackage"),
    Case("deploy-pre-prod", "smoke-run", "UploadSmokeInput", "smoke run", "s3:PutObject"),
    Case("deploy-pre-prod", "smoke-run", "StartSmokeRun", "smoke run",
         "sagemaker:StartPipelineExecution"),
    Case("execution-pre-prod", "execution", "FindModelForLocalRuns", "local run",
         "sagemaker:ListModels"),
    Case("execution-pre-prod", "execution", "DescribeModelForLocalRuns", "local run",
         "sagemaker:DescribeModel"),
    Case("execution-pre-prod", "execution", "DescribePackageForLocalRuns", "local run",
         "sagemaker:DescribeModelPackage"),
    Case("execution-pre-prod", "execution", "ListDataBuckets", "local run", "ListObjectsV2"),
    Case("execution-pre-prod", "execution", "ReadInput", "local run", "GetObject"),
    Case("execution-pre-prod", "execution", "ReadStepScripts", "local run", "GetObject"),
    Case("execution-pre-prod", "execution", "ReadModelArtifacts", "local run", "GetObject"),
    Case("execution-pre-prod", "execution", "ReadWriteRunData", "local run", "PutObject"),
    Case("execution-pre-prod", "execution", "ListArtifactsBucket", "local run", "ListObjectsV2"),
    Case("execution-pre-prod", "execution", "WriteOutput", "local run", "PutObject"),
    Case("deploy-pre-prod", "stage-status", "StatusListExecutions", "pre-prod status",
         "sagemaker:ListPipelineExecutions"),
    Case("deploy-pre-prod", "stage-status", "StatusDescribeExecutions", "pre-prod status",
         "sagemaker:ListPipelineParametersForExecution"),
    Case("deploy-pre-prod", "stage-status", "StatusListOutput", "pre-prod status", "ListObjectsV2"),
    Case("deploy-pre-prod", "stage-status", "StatusReadOutput", "pre-prod status", "GetObject"),
    Case("registry-reader", "registry-reader", "ReadSourceArtifacts", "pre-prod dry run",
         "s3:GetObject"),
    # The prod plan role holds the same template; its own flows pass with it (the statement-by-
    # statement proof runs once, for the pre-prod deploy role, to keep CI short).
    *_promotion_cases("deploy-pre-prod", "pre-prod"),
    Case("deploy-prod", "approve", "FindReviewedPackage", "prod approval",
         "sagemaker:ListModelPackageGroups"),
    Case("deploy-prod", "approve", "DescribeReviewedPackage", "prod approval",
         "sagemaker:DescribeModelPackage"),
    Case("deploy-prod", "approve", "ApproveReviewedPackage", "prod approval",
         "sagemaker:UpdateModelPackage"),
]  # fmt: skip

# The copy of an own image (tests/iam/test_image_promotion.py, its own world): the prod plan role
# holds the same templates, and its own promotion of the image passes with them.
IMAGE_PROVEN: list[Case] = [
    Case("deploy-pre-prod", "dev-images", "ReadDevModelImages", "pre-prod image dry run",
         "ecr:BatchGetImage"),
    Case("deploy-pre-prod", "promote", "ReadModelImageCopies", "pre-prod image dry run",
         "ecr:DescribeImages"),
    Case("deploy-pre-prod", "promote", "PushModelImageCopies", "pre-prod image promotion",
         "ecr:InitiateLayerUpload"),
]  # fmt: skip

# Statements whose absence does not fail a flow but degrades it, shown by their own test:
# without s3:GetObject on the source, build.py streams the artifacts instead of copying them.
# Without the parts statement every server-side copy (a multipart upload, whatever the size) is
# refused at CreateMultipartUpload and streamed; objects below the streaming part size (16 MiB)
# are then uploaded whole, create-only, needing no parts.
PROVEN_BY_FALLBACK: list[Case] = [
    Case("deploy-pre-prod", "promote", "CopySourceArtifactsServerSide", "pre-prod promotion",
         "streaming it instead"),
    Case("deploy-pre-prod", "promote", "UploadModelCopyParts", "pre-prod multipart promotion",
         "streaming it instead"),
]  # fmt: skip

# (template, Sid) -> why no local flow proves it, and the documentation that requires it.
# Statements the going-live rehearsal proves (docs/rehearsal.md): each alone allowed one of its
# requests, made by Terraform (an enforced apply, plan or destroy) or by an SDK (build.py, the runs
# as the execution role, the comparison). tests/rehearsal/test_rehearsal.py holds each to it.
REHEARSED: dict[tuple[str, str], str] = {
    ("champion-read", "DescribeChampion"): "an SDK",
    ("champion-read", "DescribeChampionModel"): "an SDK",
    ("champion-read", "FindChampionPipeline"): "an SDK",
    ("compare", "FindScoringModels"): "an SDK",
    ("compare", "ReadComparisons"): "an SDK",
    ("execution", "PublishRunMetrics"): "an SDK",
    ("execution", "ReadOwnResults"): "an SDK",
    ("execution", "WriteComparisons"): "an SDK",
    ("promote", "FindUnfinishedUploads"): "an SDK",
    ("promote", "HoldPromotionLease"): "an SDK",
    ("terraform-apply", "CreateModuleModels"): "Terraform",
    ("terraform-apply", "CreateModuleRolesWithinBoundary"): "Terraform",
    ("terraform-apply", "ManageModuleModels"): "Terraform",
    ("terraform-apply", "ManageModulePipeline"): "Terraform",
    ("terraform-apply", "ManageModuleQueue"): "Terraform",
    ("terraform-apply", "ManageModuleRoles"): "Terraform",
    ("terraform-apply", "ManageModuleSchedule"): "Terraform",
    ("terraform-apply", "ManageResultsCatalog"): "Terraform",
    ("terraform-apply", "DeleteResultsCatalog"): "Terraform",
    ("terraform-apply", "TagModuleModelsOnCreate"): "Terraform",
    ("terraform-apply", "TagModuleRoles"): "Terraform",
    ("terraform-apply-alerts", "CreateAlertsKey"): "Terraform",
    ("terraform-apply-alerts", "ManageAlertsKeyAlias"): "Terraform",
    ("terraform-apply-alerts", "ManageModuleAlarmsAndDashboard"): "Terraform",
    ("terraform-apply-alerts", "ManageModuleRule"): "Terraform",
    ("terraform-apply-alerts", "ManageModuleTopic"): "Terraform",
    ("terraform-apply-alerts", "PutModuleRule"): "Terraform",
    ("terraform-apply-alerts", "TagAlertsKeyOnCreate"): "Terraform",
    ("terraform-apply-alerts", "TargetModuleTopic"): "Terraform",
    ("terraform-read", "ListKeyAliases"): "Terraform",
    ("terraform-read", "ReadModuleAlarmsAndDashboard"): "Terraform",
    ("terraform-read", "ReadModuleKey"): "Terraform",
    ("terraform-read", "ReadModuleModels"): "Terraform and an SDK",
    ("terraform-read", "ReadModulePipeline"): "Terraform and an SDK",
    ("terraform-read", "ReadModuleQueue"): "Terraform",
    ("terraform-read", "ReadModuleRole"): "Terraform",
    ("terraform-read", "ReadModuleRule"): "Terraform",
    ("terraform-read", "ReadModuleSchedule"): "Terraform and an SDK",
    ("terraform-read", "ReadModuleTopic"): "Terraform",
    ("terraform-read", "ReadResultsCatalog"): "Terraform",
    ("terraform-state", "HoldStateLock"): "Terraform",
    ("terraform-state", "ListStateBucket"): "Terraform",
    ("terraform-state", "ReadState"): "Terraform",
    ("terraform-state-write", "WriteState"): "Terraform",
}

DOCUMENTED: dict[tuple[str, str], str] = {
    ("registry-reader", "ListSourceArtifactsBucket"):
        "only a missing source object shows it (403 instead of 404); AWS HeadObject docs",
    ("dev-artifacts-key", "DecryptSourceArtifacts"):
        "moto's S3 does not use KMS; AWS S3 docs: reading SSE-KMS objects needs kms:Decrypt",
    ("promote", "AbortModelCopyUploads"):
        "aborts the multipart uploads an interrupted run left (docs/interfaces.md); only an "
        "interrupted multipart copy shows it",
    ("promote", "EncryptWithArtifactsKey"):
        "moto's S3 does not use KMS; AWS S3 docs: SSE-KMS writes need kms:GenerateDataKey",
    ("smoke-run", "EncryptSmokeInput"):
        "moto's S3 does not use KMS; the data bucket's default key encrypts the upload",
    ("execution", "UseArtifactsKey"):
        "moto's S3 does not use KMS; SageMaker reads/writes SSE-KMS data",
    ("execution", "RunPipelineJobs"):
        "SageMaker runs the steps; Pipelines IAM docs: the pipeline role creates the jobs",
    ("execution", "PassItselfToJobs"): "SageMaker Pipelines docs: iam:PassRole to the jobs",
    ("execution", "AuthenticateToRegistries"):
        "SageMaker pulls the serving image; SageMaker roles docs (CreateModel permissions); "
        "ecr:GetAuthorizationToken has no resource type (Service Authorization Reference)",
    ("execution", "PullModelImages"):
        "SageMaker pulls the model's copied image from the stage's repository as the execution "
        "role; SageMaker roles docs (CreateModel permissions); no local flow pulls an image, but "
        "tests/iam/test_image_boundaries.py shows the pull's three calls pass IAM with it and "
        "fail without",
    ("execution", "PullFrameworkImages"):
        "SageMaker pulls AWS's framework images (serving, processing) as the execution role, "
        "cross-account: the role's policy must allow it; SageMaker roles docs",
    ("execution", "WriteJobLogs"): "SageMaker roles docs (job logs to CloudWatch Logs)",
    ("execution", "PublishJobMetrics"): "SageMaker roles docs (cloudwatch:PutMetricData)",
    ("terraform-state", "UseStateKey"):
        "moto's S3 does not use KMS; the state is SSE-KMS with the bootstrap's key (S3 "
        "backend docs)",
    ("compare", "CreateTemporaryModels"):
        "pipelines/compare.py: a temporary model for a version without one, tagged with the group",
    ("compare", "TagTemporaryModelsOnCreate"):
        "CreateModel with tags needs sagemaker:AddTags (its dependent action, Service "
        "Authorization Reference); sagemaker:TaggingAction limits it to the creation",
    ("compare", "DeleteTemporaryModels"): "pipelines/compare.py deletes the temporary model after",
    ("compare", "PassExecutionRoleToModels"):
        "CreateModel with ExecutionRoleArn needs iam:PassRole (SageMaker CreateModel docs)",
    ("stage-status", "StatusDecryptOutput"):
        "moto's S3 does not use KMS; reading SSE-KMS manifests needs it",
    ("terraform-apply", "PassExecutionRoleToSageMaker"):
        "moto does not authorize iam:PassRole; CreateModel and CreatePipeline pass the execution "
        "role (SageMaker docs: iam:PassRole)",
    ("terraform-apply", "PassSchedulerRoleToScheduler"):
        "moto does not authorize iam:PassRole; CreateSchedule passes the target's role "
        "(EventBridge Scheduler docs: iam:PassRole)",
    ("terraform-apply", "KeepTheBoundary"):
        "a Deny: it allows nothing; tests/iam/test_model_isolation.py shows the boundary holds",
    ("terraform-apply-alerts", "KeepOtherKeysTags"):
        "a Deny: it allows nothing; tests/iam/test_aws_rules.py holds it to the KMS guide",
    ("terraform-apply-alerts", "SubscribeEmailToModuleTopic"):
        "the shipped stage files set no alarm_email, so no subscription is made; SNS docs",
    ("terraform-apply-alerts", "ManageTopicSubscriptions"):
        "the shipped stage files set no alarm_email; the subscription actions have no resource "
        "types (Service Authorization Reference)",
    ("terraform-read", "ReadTopicSubscriptions"):
        "the shipped stage files set no alarm_email: no subscription to refresh",
}  # fmt: skip
