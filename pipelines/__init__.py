"""The batch pipeline: its definition (SageMaker SDK v3), the scripts its steps run, and CLIs."""

from errors import require_environment

require_environment()
