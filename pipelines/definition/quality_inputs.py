"""What the data-quality check in Preprocess needs from a package and a stage (pure, no AWS).

The baseline is the package's ``DriftCheckBaselines.ModelDataQuality`` (else
``ModelMetrics.ModelDataQuality``): its ``Statistics`` and ``Constraints`` S3 URIs, which
build.py has already copied into the stage's bucket. The check runs inside Preprocess
(quality.py, shipped as its own processing input): no extra job, no extra pass over the data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipelines.definition import layout

# CloudWatch namespace of the violation metric; the alarm in batch-config-template.tf reads it.
METRIC_NAMESPACE = "BatchInference/DataQuality"


@dataclass(frozen=True)
class Baseline:
    """S3 URIs of a package's data-quality baseline files (either may be absent)."""

    statistics_uri: str | None
    constraints_uri: str | None


def package_baseline(package: Mapping[str, Any]) -> Baseline | None:
    """The data-quality baseline a described package carries, or None.

    ``DriftCheckBaselines`` wins over ``ModelMetrics`` (it is the one meant for drift checks).
    """
    for holder in ("DriftCheckBaselines", "ModelMetrics"):
        quality = (package.get(holder) or {}).get("ModelDataQuality") or {}
        statistics = (quality.get("Statistics") or {}).get("S3Uri")
        constraints = (quality.get("Constraints") or {}).get("S3Uri")
        if statistics or constraints:
            return Baseline(statistics, constraints)
    return None


def quality_arguments(
    *, policy: str, drift_threshold: float, pipeline_name: str, region: str
) -> list[str]:
    """The Preprocess arguments that switch the check on (with the container's paths)."""
    options = {
        "policy": policy,
        "drift_threshold": repr(float(drift_threshold)),
        "baseline_dir": layout.BASELINE_DIR,
        "output_dir": layout.QUALITY_DIR,
        "metric_namespace": METRIC_NAMESPACE,
        "pipeline_name": pipeline_name,
        "region": region,
    }
    arguments = ["--quality-code", f"{layout.QUALITY_CODE_DIR}/quality.py"]
    for key, value in options.items():
        arguments += ["--quality-option", f"{key}={value}"]
    return arguments
