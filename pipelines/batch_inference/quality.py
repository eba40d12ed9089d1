"""Data-quality check of a batch against a model package's baseline (no Model Monitor needed).

The baseline is a ``statistics.json`` and/or ``constraints.json`` in the schema AWS documents
for Model Monitor ("Schema for Statistics" / "Schema for Constraints", SageMaker developer guide).
The batch is profiled while Preprocess streams it (`Gate.observe`), then checked (`evaluate`):
missing columns, inferred types, completeness, ``is_non_negative``, and per-feature drift.

Drift distance: the L-infinity distance between the baseline's CDF (its KLL histogram buckets)
and the batch's CDF, both taken at the baseline's bucket edges: the "maximum absolute difference
between the cumulative distribution functions" Model Monitor's ``comparison_threshold`` applies
to. ``comparison_method`` ``Robust`` also requires the distance to exceed the two-sample
Kolmogorov-Smirnov critical value at 5 %, so small batches do not raise false alarms.

Standalone: shipped next to preprocess.py as its own processing input; numpy and pyarrow only
(boto3 on first use, to publish the CloudWatch metric).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_COMPARISON_THRESHOLD = 0.1  # Model Monitor's documented default
DEFAULT_DATATYPE_THRESHOLD = 0.1  # Model Monitor's documented default
KS_ALPHA_COEFFICIENT = 1.358  # c(0.05) of the two-sample Kolmogorov-Smirnov test
POLICIES = ("off", "warn", "fail")
METRIC_NAME = "DataQualityViolations"
RESULT_NAME, REPORT_NAME = "data-quality.json", "data-quality.md"
WORST_SHOWN = 3


class FeatureProfile:
    """Running statistics of one numeric column, and its counts at the baseline's CDF points."""

    def __init__(self, edges: Sequence[float] = ()) -> None:
        self.present = self.missing = self.non_integral = 0
        self.total = self.total_squares = 0.0
        self.low, self.high = math.inf, -math.inf
        self.edges = np.asarray(edges, dtype=float)
        self.at_or_below = np.zeros(len(self.edges), dtype=np.int64)
        self.below_first = 0

    def add(self, values: np.ndarray) -> None:
        """Add values (float64; NaN or infinite counts as missing)."""
        finite = values[np.isfinite(values)]
        self.missing += int(values.size - finite.size)
        if not finite.size:
            return
        self.present += int(finite.size)
        self.total += float(finite.sum())
        self.total_squares += float(np.square(finite).sum())
        self.low, self.high = (
            min(self.low, float(finite.min())),
            max(self.high, float(finite.max())),
        )
        self.non_integral += int(np.count_nonzero(finite != np.floor(finite)))
        if self.edges.size:
            self.below_first += int(np.count_nonzero(finite < self.edges[0]))
            placed = np.searchsorted(self.edges, finite, side="left")  # edges < value
            counts = np.bincount(placed, minlength=self.edges.size + 1)
            self.at_or_below += np.cumsum(counts)[: self.edges.size]

    def summary(self) -> dict[str, Any]:
        """Mean, std, min, max, completeness and inferred type of what was added."""
        n = self.present
        mean = self.total / n if n else None
        variance = max(self.total_squares / n - (mean or 0.0) ** 2, 0.0) if n else None
        return {
            "num_present": n,
            "num_missing": self.missing,
            "completeness": n / (n + self.missing) if n + self.missing else None,
            "inferred_type": "Integral" if n and not self.non_integral else "Fractional",
            "non_integral_share": self.non_integral / n if n else 0.0,
            "mean": mean,
            "std_dev": math.sqrt(variance) if variance is not None else None,
            "min": self.low if n else None,
            "max": self.high if n else None,
        }


def baseline_cdf(statistics_feature: Mapping[str, Any]) -> tuple[list[float], list[float]]:
    """Edges ``[lower_0, upper_0, ..., upper_n]`` and the baseline CDF at each (0 at lower_0)."""
    distribution = (statistics_feature.get("numerical_statistics") or {}).get("distribution") or {}
    buckets = (distribution.get("kll") or {}).get("buckets") or []
    counts = [float(bucket["count"]) for bucket in buckets]
    total = sum(counts)
    if not buckets or total <= 0:
        return [], []
    edges = [float(buckets[0]["lower_bound"]), *(float(b["upper_bound"]) for b in buckets)]
    cumulative = [0.0, *np.cumsum(counts) / total]
    return edges, [float(value) for value in cumulative]


def drift_distance(profile: FeatureProfile, cdf: Sequence[float]) -> float | None:
    """L-infinity distance of the batch's CDF from the baseline's, at the baseline's edges."""
    if not profile.present or not len(cdf):
        return None
    batch = [profile.below_first / profile.present]
    batch += [float(count) / profile.present for count in profile.at_or_below[1:]]
    return max(abs(a - b) for a, b in zip(batch, cdf, strict=True))


def _violation(feature: str, kind: str, description: str) -> dict[str, str]:
    # Field names of Model Monitor's constraint_violations.json.
    return {"feature_name": feature, "constraint_check_type": kind, "description": description}


def _drift_settings(constraints: Mapping[str, Any], default: float) -> tuple[bool, float, str]:
    config = (constraints.get("monitoring_config") or {}).get("distribution_constraints") or {}
    enabled = config.get("perform_comparison", "Enabled") != "Disabled"
    threshold = float(config.get("comparison_threshold", default))
    robust = str(config.get("comparison_method", "Simple")).lower() in ("robust", "linf_robust")
    return enabled, threshold, "linf_robust" if robust else "linf_simple"


def evaluate(
    profiles: Mapping[str, FeatureProfile],
    *,
    statistics: Mapping[str, Any] | None,
    constraints: Mapping[str, Any] | None,
    default_threshold: float = DEFAULT_COMPARISON_THRESHOLD,
) -> dict[str, Any]:
    """Check profiled features against a baseline; the result is JSON-ready (pure)."""
    stats = {f["name"]: f for f in (statistics or {}).get("features", [])}
    rules = {f["name"]: f for f in (constraints or {}).get("features", [])}
    drift_on, threshold, method = _drift_settings(constraints or {}, default_threshold)
    monitoring = (constraints or {}).get("monitoring_config") or {}
    type_threshold = float(monitoring.get("datatype_check_threshold", DEFAULT_DATATYPE_THRESHOLD))
    baseline_rows = float(((statistics or {}).get("dataset") or {}).get("item_count") or 0)
    violations: list[dict[str, str]] = []
    features: list[dict[str, Any]] = []
    for name in sorted(set(stats) | set(rules)):
        profile = profiles.get(name)
        if profile is None:
            violations.append(_violation(name, "missing_column_check", "not in the batch"))
            continue
        summary, rule, stat = profile.summary(), rules.get(name, {}), stats.get(name, {})
        expected = rule.get("inferred_type") or stat.get("inferred_type")
        if expected == "Integral" and summary["non_integral_share"] > type_threshold:
            share = summary["non_integral_share"]
            violations.append(_violation(name, "data_type_check", f"{share:.1%} not Integral"))
        wanted, got = rule.get("completeness"), summary["completeness"]
        if wanted is not None and got is not None and got < float(wanted):  # None: no rows here
            violations.append(
                _violation(name, "completeness_check", f"completeness {got:.3f} < {wanted}")
            )
        non_negative = (rule.get("num_constraints") or {}).get("is_non_negative")
        if non_negative and summary["min"] is not None and summary["min"] < 0:
            violations.append(_violation(name, "non_negative_check", f"min {summary['min']:g}"))
        _, cdf = baseline_cdf(stat)
        distance = drift_distance(profile, cdf)
        limit = threshold
        if method == "linf_robust" and distance is not None and baseline_rows:
            n, m = profile.present, baseline_rows
            limit = max(threshold, KS_ALPHA_COEFFICIENT * math.sqrt((n + m) / (n * m)))
        if drift_on and distance is not None and distance > limit:
            violations.append(
                _violation(name, "baseline_drift_check", f"drift {distance:.3f} > {limit:.3f}")
            )
        base_mean = (stat.get("numerical_statistics") or {}).get("mean")
        features.append(
            {
                "name": name,
                "distance": distance,
                "threshold": limit,
                "baseline_mean": base_mean,
                **summary,
            }  # fmt: skip
        )
    return {
        "status": "violations" if violations else "pass",
        "method": method,
        "comparison_threshold": threshold,
        "features": features,
        "violations": violations,
    }


def worst_line(result: Mapping[str, Any], *, limit: int = WORST_SHOWN) -> str:
    """One line naming the worst features (largest drift first, then other violations)."""
    distance = {f["name"]: f.get("distance") or 0.0 for f in result.get("features", [])}
    ranked = sorted(result.get("violations", []), key=lambda v: -distance.get(v["feature_name"], 1))
    shown = [f"{v['feature_name']} ({v['description']})" for v in ranked[:limit]]
    more = len(ranked) - len(shown)
    return "data quality: " + "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def markdown_report(result: Mapping[str, Any]) -> str:
    """A short Markdown report: verdict, violations, then the most drifted features."""
    lines = [f"### Data quality: {result['status']} (policy {result.get('policy', '?')})", ""]
    lines.append(
        f"{result.get('rows', 0)} rows checked on {result.get('host', '?')}; drift = "
        f"{result.get('method')} between CDFs, threshold {result.get('comparison_threshold')}"
    )
    if result.get("error"):
        lines += ["", f"The input could not be read: {result['error']}"]
    if result.get("violations"):
        lines += ["", "| feature | check | detail |", "|---|---|---|"]
        lines += [
            f"| {v['feature_name']} | {v['constraint_check_type']} | {v['description']} |"
            for v in result["violations"]
        ]
    features = sorted(result.get("features", []), key=lambda f: -(f.get("distance") or 0.0))[:5]
    if features:
        lines += ["", "| feature | drift | mean (baseline) | mean (batch) |", "|---|---|---|---|"]
        for f in features:
            distance = "-" if f.get("distance") is None else f"{f['distance']:.3f}"
            lines.append(
                f"| {f['name']} | {distance} | {_number(f.get('baseline_mean'))} | "
                f"{_number(f.get('mean'))} |"
            )
    return "\n".join(lines) + "\n"


def _number(value: Any) -> str:
    return "-" if value is None else f"{float(value):.4g}"


def read_baseline(directory: Path) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """statistics and constraints from ``directory``/statistics and ``directory``/constraints."""
    found: list[dict[str, Any] | None] = []
    for part in ("statistics", "constraints"):
        files = sorted((directory / part).glob("*")) if (directory / part).is_dir() else []
        found.append(json.loads(files[0].read_text(encoding="utf-8")) if files else None)
    return found[0], found[1]


class Gate:
    """The check inside Preprocess: profile each batch, then judge, report and publish."""

    def __init__(self, features: Sequence[str], options: Mapping[str, str], host: str) -> None:
        self.features, self.host = list(features), host
        self.policy = options.get("policy", "warn")
        if self.policy not in POLICIES:
            raise ValueError(f"data-quality policy {self.policy!r} is not one of {POLICIES}")
        self.options = options
        self.out_dir = Path(options.get("output_dir", "."))
        self.statistics, self.constraints = read_baseline(Path(options.get("baseline_dir", ".")))
        stats = {f["name"]: f for f in (self.statistics or {}).get("features", [])}
        self.profiles = {
            name: FeatureProfile(baseline_cdf(stats.get(name, {}))[0]) for name in self.features
        }
        self.rows, self.finished = 0, False

    def observe(self, batch: Any) -> None:
        """Profile the feature columns of one pyarrow RecordBatch (before Preprocess's checks)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        self.rows += batch.num_rows
        for name, profile in self.profiles.items():
            column = pc.cast(batch.column(name), pa.float64())
            profile.add(column.to_numpy(zero_copy_only=False).astype(float))

    def finish(self, *, error: str | None = None) -> str | None:
        """Write the result and report, publish the metric; the failure line in ``fail`` mode."""
        if self.finished:
            return None
        self.finished = True
        default = float(self.options.get("drift_threshold", DEFAULT_COMPARISON_THRESHOLD))
        result = evaluate(
            self.profiles,
            statistics=_only(self.statistics, self.features),
            constraints=_only(self.constraints, self.features),
            default_threshold=default,
        )
        if error:  # the input could not be read to the end: its own error is the verdict
            result.update(status="error", error=error, features=[])
            result["violations"] = [_violation("*", "input_check", error)]
        result.update(policy=self.policy, rows=self.rows, host=self.host)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        text = json.dumps(result, indent=2, sort_keys=True) + "\n"
        (self.out_dir / f"{self.host}-{RESULT_NAME}").write_text(text, encoding="utf-8")
        report = markdown_report(result)
        (self.out_dir / f"{self.host}-{REPORT_NAME}").write_text(report, encoding="utf-8")
        print(report)
        if self.policy == "warn":  # "fail" is reported by the failed run itself
            publish_metric(self.options, len(result["violations"]))
        if result["violations"] and not error:
            line = worst_line(result)
            if self.policy == "fail":
                return line
            print(f"WARNING {line} (policy warn: the run continues)")
        return None


def _only(document: Mapping[str, Any] | None, names: Sequence[str]) -> dict[str, Any] | None:
    """The baseline without columns the model does not read (a target, an id, ...)."""
    if document is None:
        return None
    wanted = set(names)
    kept = [f for f in document.get("features", []) if f.get("name") in wanted]
    return {**document, "features": kept}


def publish_metric(options: Mapping[str, str], violations: int) -> None:
    """PutMetricData of the violation count, when a namespace is set; a failure only warns."""
    namespace, pipeline = options.get("metric_namespace"), options.get("pipeline_name")
    if not namespace or not pipeline:
        return
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client = boto3.client("cloudwatch", region_name=options.get("region") or None)
        client.put_metric_data(
            Namespace=namespace,
            MetricData=[
                {
                    "MetricName": METRIC_NAME,
                    "Dimensions": [{"Name": "PipelineName", "Value": pipeline}],
                    "Value": float(violations),
                    "Unit": "Count",
                }
            ],
        )
    except (BotoCoreError, ClientError) as error:  # the verdict must not depend on CloudWatch
        print(f"WARNING could not publish {namespace}/{METRIC_NAME}: {error}")
