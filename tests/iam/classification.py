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

# Statements whose absence does not fail a flow but degrades it, shown by their own test:
# without s3:GetObject on the source, build.py streams the artifacts instead of copying them.
# Without the parts statement a multipart copy (artifacts of 64 MiB and more) is refused at
# CreateMultipartUpload and streamed; objects below the streaming part size need no parts.
PROVEN_BY_FALLBACK: list[Case] = [
    Case("deploy-pre-prod", "promote", "CopySourceArtifactsServerSide", "pre-prod promotion",
         "streaming it instead"),
    Case("deploy-pre-prod", "promote", "UploadModelCopyParts", "pre-prod multipart promotion",
         "streaming it instead"),
]  # fmt: skip

TERRAFORM = "terraform apply/plan of the root module; no provider binary runs offline"
# (template, Sid) -> why no local flow proves it, and the documentation that requires it.
DOCUMENTED: dict[tuple[str, str], str] = {
    ("registry-reader", "ListSourceArtifactsBucket"):
        "only a missing source object shows it (403 instead of 404); AWS HeadObject docs",
    ("dev-artifacts-key", "DecryptSourceArtifacts"):
        "moto's S3 does not use KMS; AWS S3 docs: reading SSE-KMS objects needs kms:Decrypt",
    ("promote", "HoldPromotionLease"):
        "the promotion lease (docs/interfaces.md, robustness.md); merged at the deadline, "
        "not yet dropped one by one",
    ("promote", "FindUnfinishedUploads"):
        "cleanup of orphan multipart uploads (docs/interfaces.md); merged at the deadline, "
        "not yet dropped one by one",
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
        "SageMaker pulls the serving image; SageMaker roles docs (CreateModel permissions)",
    ("execution", "PullServingImages"): "SageMaker roles docs (CreateModel permissions)",
    ("execution", "WriteJobLogs"): "SageMaker roles docs (job logs to CloudWatch Logs)",
    ("execution", "PublishJobMetrics"): "SageMaker roles docs (cloudwatch:PutMetricData)",
    ("terraform-state", "ListStateBucket"): f"{TERRAFORM}; Terraform S3 backend docs",
    ("terraform-state", "ReadState"): f"{TERRAFORM}; Terraform S3 backend docs",
    ("terraform-state", "HoldStateLock"):
        f"{TERRAFORM}; S3 backend docs and hashicorp/terraform#36175 (use_lockfile)",
    ("terraform-state", "UseStateKey"): f"{TERRAFORM}; SSE-KMS state objects",
    ("terraform-state-write", "WriteState"): f"{TERRAFORM}; Terraform S3 backend docs",
    ("execution", "ReadOwnResults"):
        "Postprocess reads its execution's _SUCCESS back before it replaces the manifest "
        "(partitions.py publish); the local flow exercises it, not yet dropped one by one",
    ("execution", "WriteComparisons"):
        "champion/challenger scores write to <artifacts>/comparisons/ (pipelines/compare.py); "
        "SageMaker runs those executions",
    ("execution", "PublishRunMetrics"):
        "InputSkipped (partitions.py METRIC_NAMESPACE BatchInference) and the data-quality "
        "metrics (BatchInference/DataQuality); CloudWatch docs: cloudwatch:namespace condition",
    ("compare", "FindScoringModels"): "pipelines/compare.py remote_scorer: ListModels",
    ("compare", "CreateTemporaryModels"):
        "pipelines/compare.py: a temporary model for a version without one, tagged with the group",
    ("compare", "TagTemporaryModelsOnCreate"):
        "CreateModel with tags needs sagemaker:AddTags (its dependent action, Service "
        "Authorization Reference); sagemaker:TaggingAction limits it to the creation",
    ("compare", "DeleteTemporaryModels"): "pipelines/compare.py deletes the temporary model after",
    ("compare", "PassExecutionRoleToModels"):
        "CreateModel with ExecutionRoleArn needs iam:PassRole (SageMaker CreateModel docs)",
    ("compare", "ReadComparisons"): "pipelines/compare.py read_predictions of both scores",
    ("champion-read", "FindChampionPipeline"):
        "pipelines/compare.py find_champion: ListPipelines, ListModels (no resource-level "
        "permissions: SageMaker service authorization reference)",
    ("champion-read", "DescribeChampion"):
        "pipelines/compare.py find_champion: DescribePipeline, DescribeModelPackage",
    ("champion-read", "DescribeChampionModel"):
        "pipelines/compare.py find_champion: DescribeModel of prod's model (tagged with the group)",
    **{
        ("stage-status", sid): "moto's S3 does not use KMS; reading SSE-KMS manifests needs it"
        for sid in (
            "StatusDecryptOutput",
        )
    },
    ("terraform-read", "ReadResultsCatalog"):
        f"{TERRAFORM}; aws_glue_catalog_database/_table read GetDatabase, GetTable, "
        "GetPartitionIndexes (hashicorp/terraform-provider-aws#34132)",
    ("terraform-apply", "ManageResultsCatalog"):
        f"{TERRAFORM}; aws_glue_catalog_database and aws_glue_catalog_table (Glue docs)",
    **{
        ("terraform-read", sid): f"{TERRAFORM}; the provider refreshes every resource on plan"
        for sid in (
            "ReadModulePipeline", "ReadModuleModels", "ReadModuleSchedule", "ReadModuleQueue",
            "ReadModuleRole", "ReadModuleKey", "ListKeyAliases", "ReadModuleTopic",
            "ReadTopicSubscriptions", "ReadModuleRule", "ReadModuleAlarmsAndDashboard",
        )
    },
    **{
        ("terraform-apply", sid): f"{TERRAFORM}; the resources of batch-config-template.tf"
        for sid in (
            "ManageModulePipeline", "CreateModuleModels", "TagModuleModelsOnCreate",
            "ManageModuleModels", "PassExecutionRoleToSageMaker", "PassSchedulerRoleToScheduler",
            "ManageModuleSchedule", "ManageModuleQueue", "CreateModuleRolesWithinBoundary",
            "ManageModuleRoles", "TagModuleRoles", "KeepTheBoundary",
        )
    },
    **{
        ("terraform-apply-alerts", sid): f"{TERRAFORM}; the alerts resources of "
        "batch-config-template.tf (key, alias, topic, subscription, rule, alarms, dashboard)"
        for sid in (
            "CreateAlertsKey", "TagAlertsKeyOnCreate", "KeepOtherKeysTags", "ManageAlertsKey",
            "ManageAlertsKeyAlias", "ManageModuleTopic", "SubscribeEmailToModuleTopic",
            "ManageTopicSubscriptions", "PutModuleRule", "TargetModuleTopic", "ManageModuleRule",
            "ManageModuleAlarmsAndDashboard",
        )
    },
}  # fmt: skip
