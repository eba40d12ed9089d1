"""Expected failures of the local runner; each prints as one line."""

from __future__ import annotations

from errors import ConfigError, PromotionError


class LocalRunError(PromotionError):
    """A local pipeline run could not proceed (exit code 1)."""


class DefinitionError(ConfigError):
    """The pipeline definition or its parameters are invalid (exit code 2)."""


class StepError(LocalRunError):
    """One step failed; the message becomes the step's failure reason."""


# How to get the serving packages of the kinds served in process (xgboost, sagemaker-inference):
# a locked set of the template (requirements/local.txt), in a model repository and here alike.
LOCAL_PACKAGES = "make setup-local (installs the locked xgboost-cpu and sagemaker-inference)"
