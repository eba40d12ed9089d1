"""What the promotion tests and bench/fault_trial.py share: a dev registry with one group and a
package whose artifacts exist (`register`), the calls that change something in AWS, a build.py run
that pauses mid-copy, and stage-file values that must each be refused in one line.
"""

from __future__ import annotations

from typing import Any

import boto3

from testbed.local_aws import DEV_ACCOUNT, PRE_PROD_ACCOUNT, role_arn
from testbed.seed import ApprovalStatus

GROUP = "churn-model"
DEV_BUCKET = "dev-ml-artifacts"
TARGET_BUCKET = "pre-prod-artifacts"
FEATURES = "f0 f1 f2"
MUTATING_PREFIXES = (
    "Create", "Put", "Copy", "Upload", "Complete", "Delete", "Update", "Abort", "Add", "Start",
)  # fmt: skip

# A copy of this build.py run pauses before the second part of its multipart copy, so that the
# test can kill it mid-copy (an incomplete upload with one part is left behind).
PAUSING_RUN = """
import sys, time
import build
from promotion.artifacts import MIB, CopySettings

original = build.Identity.client

def client(self, name):
    made = original(self, name)
    if name == "s3" and self.account_id == "222222222222":
        def pause(params, **_):
            if params.get("PartNumber") == 2:
                print("PAUSED", flush=True)
                time.sleep(120)
        made.meta.events.register("before-parameter-build.s3.UploadPartCopy", pause)
    return made

build.Identity.client = client
settings = CopySettings(multipart_threshold=5 * MIB, part_size=5 * MIB, max_concurrency=1)
sys.exit(build.run(build.parse_args(sys.argv[1:]), settings=settings))
"""

OTHER = "333333333333"
KMS = f"arn:aws:kms:us-east-1:{PRE_PROD_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"

# (overrides of the pre-prod file, a fragment of the one-line refusal)
BAD_VALUES: list[tuple[dict[str, Any], str]] = [
    ({"kms_key_id": KMS}, "unknown key 'kms_key_id'; did you mean 'kms_key_arn'?"),
    ({"regoin": "us-east-1"}, "unknown key 'regoin'; did you mean 'region'?"),
    ({"vpc_config": {"subnets": ["subnet-1"], "security_group_ids": ["sg-1"]}},
     "unknown key 'vpc_config.subnets'; did you mean 'subnet_ids'?"),
    ({"region": "mars-north-1"}, "'mars-north-1' is not an AWS region"),
    ({"region": "us-east-1\n"}, "key 'region' contains a control character"),
    ({"sagemaker_execution_role_arn": role_arn(OTHER)},
     f"'sagemaker_execution_role_arn' belongs to account {OTHER} but 'account_id' is 2222"),
    ({"sagemaker_execution_role_arn": f"arn:aws-cn:iam::{PRE_PROD_ACCOUNT}:role/x"},
     "'sagemaker_execution_role_arn' is in partition aws-cn but region us-east-1 is in aws"),
    ({"target_role_arn": role_arn(DEV_ACCOUNT)}, "'target_role_arn' belongs to account 1111"),
    ({"source_role_arn": role_arn(PRE_PROD_ACCOUNT)}, "'source_role_arn' belongs to account 2222"),
    ({"kms_key_arn": KMS.replace("us-east-1", "eu-west-1")},
     "'kms_key_arn' is in region eu-west-1 but the stage's region is us-east-1"),
    ({"kms_key_arn": KMS.replace(PRE_PROD_ACCOUNT, OTHER)}, "'kms_key_arn' belongs to account"),
    ({"kms_key_arn": KMS.replace("arn:aws:", "arn:aws-us-gov:")}, "in partition aws-us-gov"),
    ({"kms_key_arn": KMS + "\n"}, "key 'kms_key_arn' contains a control character"),
    ({"schedule_expression": "rate(0 minutes)"}, "the rate must be a positive number"),
    ({"schedule_expression": "rate(5 minute)"}, "use the singular unit for 1"),
    ({"schedule_expression": "rate(1 fortnight)"}, "is not rate(N unit)"),
    ({"schedule_expression": "cron(x)"}, "cron(...) takes six fields"),
    ({"schedule_expression": "cron(0 3 * * * *)"}, "exactly one of day-of-month and day-of-week"),
    ({"schedule_expression": "cron(0 25 * * ? *)"}, "the hours field '25' is not valid"),
    ({"schedule_expression": "at(tomorrow)"}, "at(...) takes yyyy-mm-ddThh:mm:ss"),
    ({"schedule_timezone": "Mars/Olympus"}, "'Mars/Olympus' is not an IANA time zone"),
    ({"tags": {"team": "x" * 257}}, "values are at most 256"),
    ({"tags": {"k" * 129: "v"}}, "must be 1-128 letters"),
    ({"tags": {f"t{i}": "v" for i in range(51)}}, "has 51 tags; AWS allows at most 50"),
    ({"tags": {"aws:owner": "me"}}, "starts with 'aws:'"),
    ({"max_payload_mb": 50, "max_concurrent_transforms": 4},
     "max_concurrent_transforms x max_payload_mb is 200"),
    ({"feature_columns": ["a", "b\nc"]}, "key 'feature_columns.1' contains a control character"),
    ({"feature_columns": ["a,b"]}, "key 'feature_columns.0' 'a,b' is not a column name"),
    ({"feature_columns": []}, "key 'feature_columns' must have at least 1 item"),
    ({"id_column": ""}, "key 'id_column' '' is not a column name"),
    ({"prediction_columns": ["p", "run_date"]}, "key 'prediction_columns' names run_date"),
    ({"id_column": "score", "prediction_columns": ["score"]}, "'prediction_columns' names score"),
    ({"id_column": None, "prediction_columns": ["row_number"]}, "names row_number"),
    ({"prediction_columns": ["a", "a"]}, "column names must be unique"),
    ({"prediction_columns": ["a:double", "a:string"]}, "column names must be unique"),
    ({"prediction_columns": ["p:float"]}, "'p:float' is not name or name:type with a type of"),
    ({"prediction_columns": ["run_date:string"]}, "key 'prediction_columns' names run_date"),
    ({"processing_instance_count": "2"}, "must be a whole number from 1 to 100, got '2'"),
    ({"schedule_enabled": "yes"}, "key 'schedule_enabled' must be a valid boolean"),
    ({"stage": "staging"}, "key 'stage' must be 'pre-prod' or 'prod'"),
    ({"account_id": None}, "key 'account_id' must be a valid string, got None"),
    ({"image_uri_map": {"a": 1}}, "key 'image_uri_map.a' must be a valid string"),
    ({"vpc_config": {"subnet_ids": [[[[["deep"]]]]], "security_group_ids": ["sg-1"]}},
     "is nested too deeply"),
]  # fmt: skip


def register(
    dev: boto3.Session,
    status: ApprovalStatus = "Approved",
    *,
    group: str = GROUP,
    model_data: bytes = b"model-bytes",
    run: str = "run-1",
    metadata: dict[str, str] | None = None,
) -> str:
    """Register a package whose artifacts exist in the dev bucket; return its ARN."""
    s3 = dev.client("s3")
    prefix = f"s3://{DEV_BUCKET}/{run}"
    s3.put_object(Bucket=DEV_BUCKET, Key=f"{run}/model.tar.gz", Body=model_data)
    s3.put_object(Bucket=DEV_BUCKET, Key=f"{run}/sourcedir.tar.gz", Body=b"code")
    s3.put_object(Bucket=DEV_BUCKET, Key=f"{run}/evaluation.json", Body=b'{"auc": 0.9}')
    s3.put_object(Bucket=DEV_BUCKET, Key=f"{run}/baseline.json", Body=b'{"mean": 1}')
    image = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
    return dev.client("sagemaker").create_model_package(
        ModelPackageGroupName=group,
        ModelApprovalStatus=status,
        ModelPackageDescription=f"training {run}",
        InferenceSpecification={
            "Containers": [
                {
                    "Image": image,
                    "ModelDataUrl": f"{prefix}/model.tar.gz",
                    "Environment": {
                        "SAGEMAKER_PROGRAM": "inference.py",
                        "SAGEMAKER_SUBMIT_DIRECTORY": f"{prefix}/sourcedir.tar.gz",
                        "MODEL_THRESHOLD": "0.42",
                    },
                }
            ],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
            "SupportedTransformInstanceTypes": ["ml.m5.xlarge"],
        },
        ModelMetrics={
            "ModelQuality": {
                "Statistics": {
                    "ContentType": "application/json",
                    "S3Uri": f"{prefix}/evaluation.json",
                }
            }
        },
        DriftCheckBaselines={
            "ModelQuality": {
                "Statistics": {
                    "ContentType": "application/json",
                    "S3Uri": f"{prefix}/baseline.json",
                }
            }
        },
        CustomerMetadataProperties=metadata or {"feature_columns": FEATURES, "team": "risk"},
        Domain="MACHINE_LEARNING",
        Task="CLASSIFICATION",
    )["ModelPackageArn"]
