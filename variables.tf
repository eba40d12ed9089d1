################################################################################
# The stage module's inputs: the stage file and build.py's outputs, as objects.
#
# `config` is <stage>-config.tfvars.json decoded. Its keys, types and defaults are those of
# promotion/config.py's StageConfig, the one schema of the stage file (docs/stage-config.md);
# tests/terraform holds the two equal. Keys this type does not list are dropped by Terraform's
# object conversion without a word: build.py refuses them, in one line, before any plan.
################################################################################

variable "config" {
  description = "The stage file, `<stage>-config.tfvars.json`, decoded: every key of docs/stage-config.md, with the same defaults."
  type = object({
    stage                        = string           # pre-prod or prod
    account_id                   = string           # the stage's account; the root's provider refuses any other
    region                       = string           # the stage's region (and the dev registry's)
    source_account_id            = string           # the dev account of the model registry (build.py)
    model_package_group_name     = string           # tagged on every resource (ModelPackageGroup)
    artifacts_bucket             = string           # build.py's copies and the step scripts
    sagemaker_execution_role_arn = string           # the pipeline, its jobs and the model run as this role
    input_data_url               = string           # passed to the pipeline as InputDataUrl
    output_data_url              = string           # passed as OutputDataUrl; the results table reads under it
    kms_key_arn                  = optional(string) # SSE-KMS key of copies and outputs; null: the bucket's default
    permissions_boundary_arn     = optional(string) # carried by every IAM role of this module; null: none
    source_role_arn              = optional(string) # build.py reads the dev registry as this role
    target_role_arn              = optional(string) # build.py writes the stage account as this role
    image_uri_map                = optional(map(string), {})
    id_column                    = optional(string) # null: the row number
    id_policy                    = optional(string, "fail")
    feature_columns              = optional(list(string)) # null: the package's feature_columns metadata
    prediction_columns           = optional(list(string)) # each name or name:type; null: prediction (double)
    processing_instance_type     = optional(string, "ml.m5.xlarge")
    processing_instance_count    = optional(number, 1)
    transform_instance_type      = optional(string, "ml.m5.xlarge")
    transform_instance_count     = optional(number, 1)
    max_payload_mb               = optional(number, 6)
    max_concurrent_transforms    = optional(number, 4)
    invocations_timeout_seconds  = optional(number, 600)
    invocations_max_retries      = optional(number, 3)
    schedule_expression          = optional(string, "cron(0 3 * * ? *)")
    schedule_timezone            = optional(string, "UTC")
    schedule_enabled             = optional(bool, true)
    alarm_email                  = optional(string) # subscribed to the alerts topic; null: none
    vpc_config = optional(object({
      subnet_ids         = list(string)
      security_group_ids = list(string)
    }))
    tags                        = optional(map(string), {}) # Stage, ModelPackageGroup (and SourceModelPackageVersion) win
    data_quality                = optional(string, "warn")
    drift_threshold             = optional(number, 0.1)
    evaluation_input_url        = optional(string)
    comparison_large_difference = optional(number, 0.1)
    comparison_max_large_share  = optional(number, 0.05)
    comparison_blocks_prod      = optional(bool, false)
    input_layout                = optional(string, "snapshot")
    input_lag_days              = optional(number, 1)
    missing_input               = optional(string, "fail")
    processing_volume_gb        = optional(number, 30)
  })

  validation {
    condition     = contains(["pre-prod", "prod"], var.config.stage)
    error_message = "config.stage must be \"pre-prod\" or \"prod\"."
  }

  validation {
    condition     = can(regex("^[0-9]{12}$", var.config.account_id))
    error_message = "config.account_id must be a 12-digit AWS account id."
  }

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.config.region))
    error_message = "config.region must be an AWS Region name such as \"us-east-1\"."
  }

  validation {
    condition     = can(regex("^[0-9]{12}$", var.config.source_account_id))
    error_message = "config.source_account_id must be a 12-digit AWS account id."
  }

  validation {
    condition     = can(regex("^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$", var.config.model_package_group_name))
    error_message = "config.model_package_group_name must be 1-63 letters, digits and hyphens, starting and ending with a letter or digit."
  }

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.config.artifacts_bucket))
    error_message = "config.artifacts_bucket must be a valid S3 bucket name."
  }

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.config.sagemaker_execution_role_arn))
    error_message = "config.sagemaker_execution_role_arn must be an IAM role ARN."
  }

  validation {
    condition     = var.config.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/.+$", var.config.kms_key_arn))
    error_message = "config.kms_key_arn must be null or a KMS key or alias ARN."
  }

  validation {
    condition     = var.config.source_role_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.config.source_role_arn))
    error_message = "config.source_role_arn must be null or an IAM role ARN."
  }

  validation {
    condition     = var.config.target_role_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.config.target_role_arn))
    error_message = "config.target_role_arn must be null or an IAM role ARN."
  }

  validation {
    condition     = var.config.permissions_boundary_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:policy/.+$", var.config.permissions_boundary_arn))
    error_message = "config.permissions_boundary_arn must be null or an IAM policy ARN."
  }

  validation {
    condition     = can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/(.*/)?$", var.config.input_data_url))
    error_message = "config.input_data_url must be an s3:// prefix ending with / (without it S3 also matches sibling prefixes)."
  }

  validation {
    condition     = can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/(.*/)?$", var.config.output_data_url))
    error_message = "config.output_data_url must be an s3:// prefix ending with / (the roles' grants on it would reach sibling prefixes)."
  }

  validation {
    condition     = contains(["fail", "count"], var.config.id_policy)
    error_message = "config.id_policy must be \"fail\" or \"count\"."
  }

  validation {
    condition     = can(regex("^ml\\.[a-z0-9-]+\\.[a-z0-9]+$", var.config.processing_instance_type))
    error_message = "config.processing_instance_type must be a SageMaker instance type starting with \"ml.\"."
  }

  validation {
    condition     = var.config.processing_instance_count >= 1 && var.config.processing_instance_count <= 100 && floor(var.config.processing_instance_count) == var.config.processing_instance_count
    error_message = "config.processing_instance_count must be a whole number from 1 to 100."
  }

  validation {
    condition     = can(regex("^ml\\.[a-z0-9-]+\\.[a-z0-9]+$", var.config.transform_instance_type))
    error_message = "config.transform_instance_type must be a SageMaker instance type starting with \"ml.\"."
  }

  validation {
    condition     = var.config.transform_instance_count >= 1 && var.config.transform_instance_count <= 100 && floor(var.config.transform_instance_count) == var.config.transform_instance_count
    error_message = "config.transform_instance_count must be a whole number from 1 to 100."
  }

  validation {
    condition     = var.config.max_payload_mb >= 1 && var.config.max_payload_mb <= 100
    error_message = "config.max_payload_mb must be from 1 to 100."
  }

  validation {
    condition     = var.config.max_concurrent_transforms >= 1 && var.config.max_concurrent_transforms <= 64
    error_message = "config.max_concurrent_transforms must be from 1 to 64."
  }

  validation {
    condition     = var.config.invocations_timeout_seconds >= 1 && var.config.invocations_timeout_seconds <= 3600
    error_message = "config.invocations_timeout_seconds must be from 1 to 3600."
  }

  validation {
    condition     = var.config.invocations_max_retries >= 0 && var.config.invocations_max_retries <= 3
    error_message = "config.invocations_max_retries must be from 0 to 3."
  }

  validation {
    condition = anytrue([
      can(regex("^rate\\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\\)$", var.config.schedule_expression)),
      can(regex("^cron\\(\\S+( \\S+){5}\\)$", var.config.schedule_expression)),
      can(regex("^at\\([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\)$", var.config.schedule_expression)),
    ])
    error_message = "config.schedule_expression must be rate(<n> <unit>), cron(<6 fields>) or at(yyyy-mm-ddThh:mm:ss)."
  }

  validation {
    condition     = can(regex("^(UTC|[A-Za-z_]+(/[A-Za-z0-9_+-]+)+)$", var.config.schedule_timezone))
    error_message = "config.schedule_timezone must be an IANA time zone name such as \"UTC\" or \"Europe/Paris\"."
  }

  validation {
    condition     = var.config.alarm_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.config.alarm_email))
    error_message = "config.alarm_email must be null or an email address."
  }

  validation {
    condition     = var.config.vpc_config == null ? true : length(var.config.vpc_config.subnet_ids) > 0 && length(var.config.vpc_config.security_group_ids) > 0
    error_message = "config.vpc_config must be null or name at least one subnet and one security group."
  }

  validation {
    condition     = contains(["off", "warn", "fail"], var.config.data_quality)
    error_message = "config.data_quality must be off, warn or fail."
  }

  validation {
    condition     = var.config.drift_threshold > 0 && var.config.drift_threshold <= 1
    error_message = "config.drift_threshold must be greater than 0 and at most 1."
  }

  validation {
    condition     = var.config.evaluation_input_url == null || can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/", var.config.evaluation_input_url))
    error_message = "config.evaluation_input_url must be null or an s3://bucket/prefix URL."
  }

  validation {
    condition     = var.config.comparison_large_difference > 0
    error_message = "config.comparison_large_difference must be greater than 0."
  }

  validation {
    condition     = var.config.comparison_max_large_share > 0 && var.config.comparison_max_large_share <= 1
    error_message = "config.comparison_max_large_share must be greater than 0 and at most 1."
  }

  # The results table's columns (batch-config-template.tf results_columns, its partition dt)
  # are lower case in Glue: two names equal once lower-cased would be one column twice.
  validation {
    condition = alltrue([for lowered, names in {
      for name in concat(
        var.config.id_column == null ? ["source_file", "row_number"] : [var.config.id_column],
        [for entry in coalesce(var.config.prediction_columns, ["prediction"]) : split(":", entry)[0]],
        ["model_package_version", "execution_id", "run_date", "dt"],
      ) : lower(name) => name...
    } : length(names) == 1])
    # A heredoc: checkov's HCL parser takes no quoted string inside a quoted string's ${}.
    error_message = <<-EOT
      config.id_column and config.prediction_columns name a column of the results table twice once lower-cased (Glue holds column names in lower case): ${jsonencode([for lowered, names in {
    for name in concat(
      var.config.id_column == null ? ["source_file", "row_number"] : [var.config.id_column],
      [for entry in coalesce(var.config.prediction_columns, ["prediction"]) : split(":", entry)[0]],
      ["model_package_version", "execution_id", "run_date", "dt"],
    ) : lower(name) => name...
} : names if length(names) > 1])}; rename one of each.
    EOT
}

validation {
  condition     = contains(["snapshot", "YYYY-MM-DD", "dt=YYYY-MM-DD", "year=YYYY/month=MM/day=DD"], var.config.input_layout)
  error_message = "config.input_layout must be snapshot, YYYY-MM-DD, dt=YYYY-MM-DD or year=YYYY/month=MM/day=DD."
}

validation {
  condition     = var.config.input_lag_days >= 0 && var.config.input_lag_days <= 30 && floor(var.config.input_lag_days) == var.config.input_lag_days
  error_message = "config.input_lag_days must be a whole number from 0 to 30."
}

validation {
  condition     = contains(["fail", "skip"], var.config.missing_input)
  error_message = "config.missing_input must be fail or skip."
}

validation {
  condition     = var.config.processing_volume_gb >= 1 && var.config.processing_volume_gb <= 16384 && floor(var.config.processing_volume_gb) == var.config.processing_volume_gb
  error_message = "config.processing_volume_gb must be a whole number from 1 to 16384."
}
}

################################################################################
# build.py's outputs for the promoted version: build/<stage>/deployment.tfvars.json
################################################################################

variable "deployment" {
  description = "build.py's `build/<stage>/deployment.tfvars.json`, decoded: the promoted package, its lineage and the names build.py chose. The module reads the pipeline definition `pipeline_definition_file` names (relative paths: from where Terraform runs)."
  type = object({
    model_package_arn            = string # the promoted, versioned package in the stage account
    source_model_package_arn     = string # the dev version it was promoted from (lineage)
    source_model_package_version = number # tagged on the model and the pipeline (SourceModelPackageVersion)
    model_name                   = string # one SageMaker model per promoted version; passed as ModelName
    pipeline_name                = string # stable per stage; the base of every derived name
    pipeline_definition_file     = string # build/<stage>/pipeline-definition.json: the pipeline's inline definition
  })

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:[0-9]{12}:model-package/[^/]+/[0-9]+$", var.deployment.model_package_arn))
    error_message = "deployment.model_package_arn must be a versioned SageMaker model package ARN."
  }

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:[0-9]{12}:model-package/[^/]+/[0-9]+$", var.deployment.source_model_package_arn))
    error_message = "deployment.source_model_package_arn must be a versioned SageMaker model package ARN."
  }

  validation {
    condition     = var.deployment.source_model_package_version >= 1 && floor(var.deployment.source_model_package_version) == var.deployment.source_model_package_version
    error_message = "deployment.source_model_package_version must be a whole number of at least 1."
  }

  validation {
    condition     = can(regex("^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$", var.deployment.model_name))
    error_message = "deployment.model_name must be 1-63 letters, digits and hyphens, starting and ending with a letter or digit."
  }

  validation {
    condition     = can(regex("^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$", var.deployment.pipeline_name))
    error_message = "deployment.pipeline_name must be 1-256 letters, digits and hyphens, starting and ending with a letter or digit."
  }

  validation {
    condition     = can(jsondecode(file(startswith(var.deployment.pipeline_definition_file, "/") ? var.deployment.pipeline_definition_file : "${path.cwd}/${var.deployment.pipeline_definition_file}")).Steps)
    error_message = "deployment.pipeline_definition_file must name a readable SageMaker pipeline definition (JSON with Steps): run build.py for this stage first."
  }
}

################################################################################
# Options of this module (defaults suit both stages; not stage keys)
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
