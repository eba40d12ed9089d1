"""Which serving container a package's container is, from its image, Framework and Environment.

An image is AWS's own only when its registry account is the one AWS publishes that repository
from in that region (the SageMaker SDK's bundled image tables, ``sagemaker.core``'s
``image_uri_config``): a repository merely named ``sagemaker-xgboost`` in another account is the
team's own container. The package's ``Framework`` is a claim, checked against the image.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.local.errors import StepError
from pipelines.local.model import ContainerSpec

SKLEARN, XGBOOST_ALGORITHM, XGBOOST_SCRIPT = "sklearn", "xgboost", "xgboost-script"
TOOLKIT, AWS_OTHER, OWN = "toolkit", "aws-other", "own"
_ECR_IMAGE = re.compile(
    r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/([^:@]+)(?::[^@]*)?(?:@.*)?$"
)
_FRAMEWORK_CLAIMS = {
    SKLEARN: {"SKLEARN", "SCIKIT-LEARN", "SCIKIT_LEARN"},
    XGBOOST_ALGORITHM: {"XGBOOST"},
    "pytorch": {"PYTORCH"},
    "mxnet": {"MXNET"},
    "huggingface": {"HUGGINGFACE", "HUGGING_FACE", "PYTORCH", "TENSORFLOW"},
}


@dataclass(frozen=True)
class Kind:
    """What serves a container: ``name`` (SKLEARN, ..., OWN), the framework of a toolkit image,
    and a description for messages."""

    name: str
    description: str
    framework: str = ""


def _walk(node: Any, table: str, found: dict[tuple[str, str, str], str]) -> None:
    if isinstance(node, dict):
        if "registries" in node and "repository" in node:
            for region, account in node["registries"].items():
                found[(str(node["repository"]), region, str(account))] = table
            return
        for value in node.values():
            _walk(value, table, found)


@functools.lru_cache(maxsize=1)
def aws_repositories() -> dict[tuple[str, str, str], str]:
    """(repository, region, account) of AWS's serving images -> the table naming it."""
    spec = importlib.util.find_spec("sagemaker.core")
    if spec is None or not spec.submodule_search_locations:
        raise StepError("the SageMaker SDK (sagemaker-core) is not installed: pip install .")
    directory = Path(next(iter(spec.submodule_search_locations))) / "image_uri_config"
    found: dict[tuple[str, str, str], str] = {}
    for path in sorted(directory.glob("*.json")):
        _walk(json.loads(path.read_text(encoding="utf-8")), path.stem, found)
    return found


def _aws_kind(repository: str, table: str, environment: dict[str, str]) -> Kind:
    if repository == "sagemaker-scikit-learn":
        return Kind(SKLEARN, "AWS's scikit-learn container")
    if repository == "sagemaker-xgboost":
        if environment.get("SAGEMAKER_PROGRAM"):
            return Kind(XGBOOST_SCRIPT, "AWS's XGBoost container in script mode")
        return Kind(XGBOOST_ALGORITHM, "AWS's XGBoost built-in algorithm")
    if (
        table in ("pytorch", "mxnet")
        and "inference" in repository
        and not any(marker in repository for marker in ("eia", "neuron", "graviton"))
    ):
        return Kind(TOOLKIT, f"AWS's {table} inference-toolkit container", table)
    if table == "huggingface":
        # Its own HuggingFaceHandlerService (sagemaker-huggingface-inference-toolkit), not the
        # toolkit's Transformer: no pre_model_fn or model_warmup_fn, transformers pipelines as
        # defaults, JSON for a missing Accept, errors as 400.
        return Kind(AWS_OTHER, f"AWS's {repository} image (its own Hugging Face handler "
                               "service), which the runner does not emulate")  # fmt: skip
    return Kind(AWS_OTHER, f"AWS's {repository} image, which the runner does not emulate")


def recognise(container: ContainerSpec) -> Kind:
    """The kind of ``container``; refuse a Framework that contradicts an AWS image."""
    match = _ECR_IMAGE.match(container.image)
    table = None
    if match:
        account, region, repository = match.groups()
        table = aws_repositories().get((repository, region, account))
    if not match or table is None:
        return Kind(OWN, "the team's own container")
    kind = _aws_kind(repository, table, container.environment)
    family = kind.framework or (XGBOOST_ALGORITHM if kind.name == XGBOOST_SCRIPT else kind.name)
    claimed = (container.framework or "").strip().upper()
    if claimed and family in _FRAMEWORK_CLAIMS and claimed not in _FRAMEWORK_CLAIMS[family]:
        raise StepError(
            f"image {container.image} is {kind.description} but the package's Framework says "
            f"{container.framework}: fix the package's Framework or its Image"
        )
    return kind
