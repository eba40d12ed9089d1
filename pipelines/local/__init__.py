"""Run a rendered SageMaker pipeline definition on this machine: no Docker, no SageMaker.

Processing steps run as subprocesses, Transform steps with batch transform's and the
scikit-learn serving container's semantics, against whatever S3 boto3 reaches.
"""

from pipelines.local.errors import DefinitionError, LocalRunError, StepError
from pipelines.local.options import RunOptions
from pipelines.local.runner import RunResult, StepResult, check_definition, run_definition

__all__ = [
    "DefinitionError",
    "LocalRunError",
    "RunOptions",
    "RunResult",
    "StepError",
    "StepResult",
    "check_definition",
    "run_definition",
]
