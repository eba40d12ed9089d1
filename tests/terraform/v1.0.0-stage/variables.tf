################################################################################
# Stage config: <stage>-config.tfvars.json (shared with build.py)
################################################################################

variable "stage" {
  description = "Name of the stage this root module deploys. Valid values: `pre-prod`, `prod`."
  type        = string

  validation {
    condition     = contains(["pre-prod", "prod"], var.stage)
    error_message = "stage must be \"pre-prod\" or \"prod\"."
  }
}

variable "account_id" {
  description = "The stage's 12-digit AWS account id. The provider refuses credentials for any other account."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be a 12-digit AWS account id."
  }
}

variable "region" {
  description = "AWS Region of the stage (and of the dev model registry), for example `us-east-1`."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.region))
    error_message = "region must be an AWS Region name such as \"us-east-1\"."
  }
}

variable "source_account_id" {
  description = "12-digit id of the dev account that holds the model registry. Read by build.py."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.source_account_id))
    error_message = "source_account_id must be a 12-digit AWS account id."
  }
}

variable "model_package_group_name" {
  description = "Name of the dev model package group; the stage's group has the same name. Tagged on every resource."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$", var.model_package_group_name))
    error_message = "model_package_group_name must be 1-63 letters, digits and hyphens, starting and ending with a letter or digit."
  }
}

variable "artifacts_bucket" {
  description = "Bucket in the stage account for model artifacts and step scripts. Read by build.py."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.artifacts_bucket))
    error_message = "artifacts_bucket must be a valid S3 bucket name."
  }
}

variable "sagemaker_execution_role_arn" {
  description = "ARN of the IAM role the pipeline, its jobs and the SageMaker model run as."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.sagemaker_execution_role_arn))
    error_message = "sagemaker_execution_role_arn must be an IAM role ARN."
  }
}

variable "kms_key_arn" {
  description = "ARN of the SSE-KMS key (or alias) build.py uses for copies and the pipeline uses for outputs. `null` means the bucket's default encryption."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be null or a KMS key or alias ARN."
  }
}

variable "source_role_arn" {
  description = "ARN of the role build.py assumes to read the dev registry. `null` means the ambient credentials."
  type        = string
  default     = null

  validation {
    condition     = var.source_role_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.source_role_arn))
    error_message = "source_role_arn must be null or an IAM role ARN."
  }
}

variable "target_role_arn" {
  description = "ARN of the role build.py assumes to write the stage account. `null` means the ambient credentials."
  type        = string
  default     = null

  validation {
    condition     = var.target_role_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.target_role_arn))
    error_message = "target_role_arn must be null or an IAM role ARN."
  }
}

variable "permissions_boundary_arn" {
  description = "ARN of the permissions boundary every IAM role of this module carries (bootstrap/stage output; the deploy role may create roles only with it). `null` means no boundary."
  type        = string
  default     = null

  validation {
    condition     = var.permissions_boundary_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:policy/.+$", var.permissions_boundary_arn))
    error_message = "permissions_boundary_arn must be null or an IAM policy ARN."
  }
}

variable "image_uri_map" {
  description = "Exact source image URI to the image URI the stage uses instead. Read by build.py; `{}` keeps every image."
  type        = map(string)
  default     = {}
}

variable "input_data_url" {
  description = "`s3://` prefix the scheduled run scores; passed to the pipeline as `InputDataUrl`."
  type        = string

  validation {
    condition     = can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$", var.input_data_url))
    error_message = "input_data_url must be an s3:// URL."
  }
}

variable "output_data_url" {
  description = "`s3://` prefix predictions are written under; passed to the pipeline as `OutputDataUrl`."
  type        = string

  validation {
    condition     = can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$", var.output_data_url))
    error_message = "output_data_url must be an s3:// URL."
  }
}

variable "id_column" {
  description = "Id column kept next to the predictions. Read when the pipeline is rendered; `null` means the row number."
  type        = string
  default     = null
}

variable "id_policy" {
  description = "Duplicate or empty ids in `id_column`: `fail` the Preprocess step (one line) or `count` them in the run's `_SUCCESS` manifest. Read when the pipeline is rendered."
  type        = string
  default     = "fail"

  validation {
    condition     = contains(["fail", "count"], var.id_policy)
    error_message = "id_policy must be \"fail\" or \"count\"."
  }
}

variable "feature_columns" {
  description = "Model features in order. Read when the pipeline is rendered; `null` means the package's `feature_columns` metadata."
  type        = list(string)
  default     = null
}

variable "prediction_columns" {
  description = "Names of the model's output columns, in order: the Parquet results' and the results table's columns. Read when the pipeline is rendered and by the results table; `null` means `prediction` (one output) or `prediction_0`, `prediction_1`, ... (several: set this key so the table names them)."
  type        = list(string)
  default     = null
}

variable "processing_instance_type" {
  description = "Instance type of the Preprocess and Postprocess steps, passed as `ProcessingInstanceType`, for example `ml.m5.xlarge`."
  type        = string

  validation {
    condition     = can(regex("^ml\\.[a-z0-9-]+\\.[a-z0-9]+$", var.processing_instance_type))
    error_message = "processing_instance_type must be a SageMaker instance type starting with \"ml.\"."
  }
}

variable "processing_instance_count" {
  description = "Instance count of the Preprocess and Postprocess steps, passed as `ProcessingInstanceCount` (1-100)."
  type        = number

  validation {
    condition     = var.processing_instance_count >= 1 && var.processing_instance_count <= 100 && floor(var.processing_instance_count) == var.processing_instance_count
    error_message = "processing_instance_count must be a whole number from 1 to 100."
  }
}

variable "transform_instance_type" {
  description = "Instance type of the batch transform, passed as `TransformInstanceType`, for example `ml.m5.xlarge`."
  type        = string

  validation {
    condition     = can(regex("^ml\\.[a-z0-9-]+\\.[a-z0-9]+$", var.transform_instance_type))
    error_message = "transform_instance_type must be a SageMaker instance type starting with \"ml.\"."
  }
}

variable "transform_instance_count" {
  description = "Instance count of the batch transform, passed as `TransformInstanceCount` (1-100)."
  type        = number

  validation {
    condition     = var.transform_instance_count >= 1 && var.transform_instance_count <= 100 && floor(var.transform_instance_count) == var.transform_instance_count
    error_message = "transform_instance_count must be a whole number from 1 to 100."
  }
}

variable "max_payload_mb" {
  description = "Batch transform `MaxPayloadInMB` (1-100). Read when the pipeline is rendered."
  type        = number

  validation {
    condition     = var.max_payload_mb >= 1 && var.max_payload_mb <= 100
    error_message = "max_payload_mb must be from 1 to 100."
  }
}

variable "max_concurrent_transforms" {
  description = "Batch transform `MaxConcurrentTransforms` (1-64). Read when the pipeline is rendered."
  type        = number

  validation {
    condition     = var.max_concurrent_transforms >= 1 && var.max_concurrent_transforms <= 64
    error_message = "max_concurrent_transforms must be from 1 to 64."
  }
}

variable "invocations_timeout_seconds" {
  description = "Batch transform `ModelClientConfig.InvocationsTimeoutInSeconds` (1-3600). Read when the pipeline is rendered."
  type        = number

  validation {
    condition     = var.invocations_timeout_seconds >= 1 && var.invocations_timeout_seconds <= 3600
    error_message = "invocations_timeout_seconds must be from 1 to 3600."
  }
}

variable "invocations_max_retries" {
  description = "Batch transform `ModelClientConfig.InvocationsMaxRetries` (0-3). Read when the pipeline is rendered."
  type        = number

  validation {
    condition     = var.invocations_max_retries >= 0 && var.invocations_max_retries <= 3
    error_message = "invocations_max_retries must be from 0 to 3."
  }
}

variable "schedule_expression" {
  description = "When the schedule starts the pipeline: `rate(<n> minutes|hours|days)`, `cron(<6 fields>)` or `at(yyyy-mm-ddThh:mm:ss)`."
  type        = string

  validation {
    condition = anytrue([
      can(regex("^rate\\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\\)$", var.schedule_expression)),
      can(regex("^cron\\(\\S+( \\S+){5}\\)$", var.schedule_expression)),
      can(regex("^at\\([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\)$", var.schedule_expression)),
    ])
    error_message = "schedule_expression must be rate(<n> <unit>), cron(<6 fields>) or at(yyyy-mm-ddThh:mm:ss)."
  }
}

variable "schedule_timezone" {
  description = "IANA time zone the schedule expression is evaluated in, for example `UTC` or `Europe/Paris`."
  type        = string

  validation {
    condition     = can(regex("^(UTC|[A-Za-z_]+(/[A-Za-z0-9_+-]+)+)$", var.schedule_timezone))
    error_message = "schedule_timezone must be an IANA time zone name such as \"UTC\" or \"Europe/Paris\"."
  }
}

variable "schedule_enabled" {
  description = "Controls whether the schedule starts the pipeline (`true`: ENABLED) or is kept but DISABLED (`false`)."
  type        = bool
}

variable "alarm_email" {
  description = "Email address subscribed to the failure alerts topic (the subscription must be confirmed). `null` means no subscription."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be null or an email address."
  }
}

variable "vpc_config" {
  description = "Subnets and security groups the SageMaker model runs in. `null` means no VPC."
  type = object({
    subnet_ids         = list(string)
    security_group_ids = list(string)
  })
  default = null

  validation {
    condition     = var.vpc_config == null ? true : length(var.vpc_config.subnet_ids) > 0 && length(var.vpc_config.security_group_ids) > 0
    error_message = "vpc_config must be null or name at least one subnet and one security group."
  }
}

variable "tags" {
  description = "Extra tags on every resource. Stage, ModelPackageGroup and SourceModelPackageVersion are always set and win over these."
  type        = map(string)
  default     = {}
}

################################################################################
# Deployment: build/<stage>/deployment.tfvars.json (written by build.py)
################################################################################

variable "model_package_arn" {
  description = "ARN of the promoted, versioned model package in the stage account; the SageMaker model is created from it."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:[0-9]{12}:model-package/[^/]+/[0-9]+$", var.model_package_arn))
    error_message = "model_package_arn must be a versioned SageMaker model package ARN."
  }
}

variable "source_model_package_arn" {
  description = "ARN of the dev model package version that was promoted (lineage)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:[0-9]{12}:model-package/[^/]+/[0-9]+$", var.source_model_package_arn))
    error_message = "source_model_package_arn must be a versioned SageMaker model package ARN."
  }
}

variable "source_model_package_version" {
  description = "Version number of the promoted dev model package. Tagged on every resource."
  type        = number

  validation {
    condition     = var.source_model_package_version >= 1 && floor(var.source_model_package_version) == var.source_model_package_version
    error_message = "source_model_package_version must be a whole number of at least 1."
  }
}

variable "model_name" {
  description = "Name of the SageMaker model (unique per promoted version, at most 63 characters); passed to the pipeline as `ModelName`."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$", var.model_name))
    error_message = "model_name must be 1-63 letters, digits and hyphens, starting and ending with a letter or digit."
  }
}

variable "pipeline_name" {
  description = "Stable name of the stage's pipeline (1-256 letters, digits and hyphens); also the base of the schedule's, alarms' and dashboard's names (shortened with a hash beyond 54 characters)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$", var.pipeline_name))
    error_message = "pipeline_name must be 1-256 letters, digits and hyphens, starting and ending with a letter or digit."
  }
}

variable "pipeline_definition_file" {
  description = "Path of the rendered pipeline definition JSON, absolute or relative to the repository root (build.py writes `build/<stage>/pipeline-definition.json`). Its content is the pipeline's inline definition."
  type        = string

  validation {
    condition     = can(regex("\\.json$", var.pipeline_definition_file))
    error_message = "pipeline_definition_file must name a .json file."
  }
}

################################################################################
# Options of this module (defaults suit both stages)
################################################################################

variable "schedule_flexible_time_window_minutes" {
  description = "Width in minutes of the flexible time window the schedule may start the pipeline in (1-1440)."
  type        = number
  default     = 15

  validation {
    condition     = var.schedule_flexible_time_window_minutes >= 1 && var.schedule_flexible_time_window_minutes <= 1440
    error_message = "schedule_flexible_time_window_minutes must be from 1 to 1440."
  }
}

variable "schedule_retry_policy" {
  description = "Retry policy of the schedule's target: `maximum_retry_attempts` (0-185) and `maximum_event_age_in_seconds` (60-86400). Exhausted invocations go to the dead-letter queue."
  type = object({
    maximum_retry_attempts       = optional(number, 3)
    maximum_event_age_in_seconds = optional(number, 3600)
  })
  default = {}

  validation {
    condition = (
      var.schedule_retry_policy.maximum_retry_attempts >= 0 && var.schedule_retry_policy.maximum_retry_attempts <= 185 &&
      var.schedule_retry_policy.maximum_event_age_in_seconds >= 60 && var.schedule_retry_policy.maximum_event_age_in_seconds <= 86400
    )
    error_message = "maximum_retry_attempts must be 0-185 and maximum_event_age_in_seconds 60-86400."
  }
}

variable "data_quality" {
  description = "Data-quality check of each batch against the model package's ModelDataQuality baseline, inside Preprocess: `off`, `warn` (the run goes on; violations are a CloudWatch metric with an alarm to the alerts topic) or `fail` (the run stops before Transform). Without a baseline in the package nothing is checked."
  type        = string
  default     = "warn"

  validation {
    condition     = contains(["off", "warn", "fail"], var.data_quality)
    error_message = "data_quality must be off, warn or fail."
  }
}

variable "drift_threshold" {
  description = "Largest allowed L-infinity distance between a feature's baseline and batch CDFs (0-1], used when the baseline's constraints.json sets no comparison_threshold. 0.1 is Model Monitor's default."
  type        = number
  default     = 0.1

  validation {
    condition     = var.drift_threshold > 0 && var.drift_threshold <= 1
    error_message = "drift_threshold must be greater than 0 and at most 1."
  }
}

variable "evaluation_input_url" {
  description = "`s3://` prefix the champion/challenger comparison scores with both versions (read in the stage where the comparison runs, pre-prod). `null` means no comparison."
  type        = string
  default     = null

  validation {
    condition     = var.evaluation_input_url == null || can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/", var.evaluation_input_url))
    error_message = "evaluation_input_url must be null or an s3://bucket/prefix URL."
  }
}

variable "comparison_large_difference" {
  description = "A row whose two predictions differ by more than this is a large difference (label predictions: any difference)."
  type        = number
  default     = 0.1

  validation {
    condition     = var.comparison_large_difference > 0
    error_message = "comparison_large_difference must be greater than 0."
  }
}

variable "comparison_max_large_share" {
  description = "Largest share (0-1] of rows with a large difference for the comparison to pass."
  type        = number
  default     = 0.05

  validation {
    condition     = var.comparison_max_large_share > 0 && var.comparison_max_large_share <= 1
    error_message = "comparison_max_large_share must be greater than 0 and at most 1."
  }
}

variable "comparison_blocks_prod" {
  description = "Controls whether a failing champion/challenger comparison stops the prod plan; `false` only annotates the job summaries."
  type        = bool
  default     = false
}
################################################################################
# Scheduled runs: input layout, lag, missing input, volume (docs/schedules.md)
################################################################################

variable "input_layout" {
  description = "What a run scores under `input_data_url`: `snapshot` (the whole prefix) or one partition per date, `YYYY-MM-DD`, `dt=YYYY-MM-DD` or `year=YYYY/month=MM/day=DD`. Read when the pipeline is rendered."
  type        = string
  default     = "snapshot"

  validation {
    condition     = contains(["snapshot", "YYYY-MM-DD", "dt=YYYY-MM-DD", "year=YYYY/month=MM/day=DD"], var.input_layout)
    error_message = "input_layout must be snapshot, YYYY-MM-DD, dt=YYYY-MM-DD or year=YYYY/month=MM/day=DD."
  }
}

variable "input_lag_days" {
  description = "Days between a scheduled run and the date it scores (0-30): 1 means the 03:00 run scores yesterday. Daily layouts only; read when the pipeline is rendered."
  type        = number
  default     = 1

  validation {
    condition     = var.input_lag_days >= 0 && var.input_lag_days <= 30 && floor(var.input_lag_days) == var.input_lag_days
    error_message = "input_lag_days must be a whole number from 0 to 30."
  }
}

variable "missing_input" {
  description = "What a run does when its date's partition is missing or empty: `fail` (the execution fails naming the expected prefix) or `skip` (it succeeds, records `_SKIPPED` and counts `BatchInference/InputSkipped`; daily layouts only)."
  type        = string
  default     = "fail"

  validation {
    condition     = contains(["fail", "skip"], var.missing_input)
    error_message = "missing_input must be fail or skip."
  }
}

variable "processing_volume_gb" {
  description = "Storage volume of each Processing instance in GB (1-16384); it must hold an instance's share of the input and its shards. Read when the pipeline is rendered."
  type        = number
  default     = 30

  validation {
    condition     = var.processing_volume_gb >= 1 && var.processing_volume_gb <= 16384 && floor(var.processing_volume_gb) == var.processing_volume_gb
    error_message = "processing_volume_gb must be a whole number from 1 to 16384."
  }
}
