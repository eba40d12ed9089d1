"""The batch pipeline: steps/ (the scripts its jobs run), definition/ (rendered with the SageMaker
SDK v3), local/ (the runner), runs/ and evidence/ (what the CLIs share), status, and the CLIs."""

from errors import require_environment

require_environment()
