"""Data-quality check of a batch against a model package's baseline (no Model Monitor needed).

The baseline is a ``statistics.json`` and/or ``constraints.json`` in the schema AWS documents
for Model Monitor ("Schema for Statistics" / "Schema for Constraints", SageMaker developer guide).
The batch is profiled while Preprocess streams it (`Gate.observe`), then checked (`evaluate`):
missing columns, inferred types, completeness, ``is_non_negative``, and per-feature drift.

Buckets: ONE convention on both sides, Model Monitor's. Its analyzer is built on Deequ, whose
KLL analyzer counts bucket i as ``lower_i <= v < upper_i`` and the last bucket as
``lower <= v <= upper`` (``getRankExclusive(high) - getRankExclusive(low)``, the last with
``getRank(high)``; awslabs/deequ ``analyzers/KLLSketch.scala``): a value on an edge counts in
the bucket above. `bucket_counts` is that rule; the baseline writer (pipelines/baseline.py) and
the batch profile both use it, so whole-number features, whose edges fall on the values
themselves, are counted alike on both sides.

Drift distance: the L-infinity distance between the baseline's CDF and the batch's CDF, both
taken at the baseline's bucket edges (the share of values below each edge, and at or below the
last): the "maximum absolute difference between the cumulative distribution functions" Model
Monitor's ``comparison_threshold`` applies to. ``comparison_method`` ``Robust`` also requires
the distance to exceed the two-sample Kolmogorov-Smirnov critical value at 5 % for the whole
batch (shared out over its features), so small batches do not raise false alarms.
Completeness allows the batch's sampling error (`completeness_floor`, a Chernoff bound on the
missing count); a baseline without missing values allows none.
The false-alarm rate and the power of the whole gate over many kinds of features are measured
by bench/bench_quality.py (docs/evidence.md).

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
# Robust: the two-sample Kolmogorov-Smirnov critical value at this level for the whole batch,
# shared out over the features compared (Bonferroni): c = sqrt(-ln(alpha / 2k) / 2), 1.358 for
# one feature. Per feature at 5 %, ten features would cry wolf on a third of small batches.
KS_ALPHA = 0.05
# Completeness: a clean batch's missing count exceeds the Chernoff bound at this level at most
# once in 1,000 batches (a rigorous bound for a binomial count, unlike a normal approximation).
COMPLETENESS_ALPHA = 0.001
# Distances are compared after rounding away float noise far below one count in 10^9 rows,
# so that an exact tie with the threshold is never reported as a drift.
DISTANCE_DIGITS = 12
POLICIES = ("off", "warn", "fail")
METRIC_NAME = "DataQualityViolations"
RESULT_NAME, REPORT_NAME = "data-quality.json", "data-quality.md"
WORST_SHOWN = 3


def bucket_counts(values: np.ndarray, edges: Sequence[float] | np.ndarray) -> np.ndarray:
    """Counts of ``values`` (finite) below, in each bucket of, and above ``edges``.

    Returns ``len(edges) + 1`` counts: ``[below edges[0], bucket 0 .. bucket n-1, above
    edges[-1]]``, bucket i holding ``edges[i] <= v < edges[i+1]`` and the last bucket also
    ``v == edges[-1]`` (Model Monitor's, i.e. Deequ's, convention; see the module docstring).
    Equal edges (a constant column's ``[c, c]`` buckets) put ``c`` in the last bucket.
    """
    bounds = np.asarray(edges, dtype=float)
    slots = np.searchsorted(bounds, values, side="right")  # edges <= value; 0 = below
    slots[values == bounds[-1]] = bounds.size - 1  # the closed last bucket
    return np.bincount(slots, minlength=bounds.size + 1)


class FeatureProfile:
    """Running statistics of one numeric column, and its counts in the baseline's buckets."""

    def __init__(self, edges: Sequence[float] = ()) -> None:
        self.present = self.missing = self.non_integral = 0
        self.mean = self.m2 = 0.0  # merged per batch (Chan et al.): exact for large values
        self.low, self.high = math.inf, -math.inf
        self.edges = np.asarray(edges, dtype=float)
        self.counts = np.zeros(self.edges.size + 1, dtype=np.int64) if self.edges.size else None

    def add(self, values: np.ndarray) -> None:
        """Add values (float64; NaN or infinite counts as missing)."""
        finite = values[np.isfinite(values)]
        self.missing += int(values.size - finite.size)
        if not finite.size:
            return
        size, mean = finite.size, float(finite.mean())
        m2 = float(np.square(finite - mean).sum())
        total = self.present + size
        delta = mean - self.mean
        self.mean += delta * size / total
        self.m2 += m2 + delta * delta * self.present * size / total
        self.present = total
        self.low, self.high = (
            min(self.low, float(finite.min())),
            max(self.high, float(finite.max())),
        )
        self.non_integral += int(np.count_nonzero(finite != np.floor(finite)))
        if self.counts is not None:
            self.counts += bucket_counts(finite, self.edges)

    def cdf(self) -> list[float]:
        """The batch's CDF at the baseline's edges: below each edge, at or below the last."""
        if self.counts is None or not self.present:
            return []
        cumulative = np.cumsum(self.counts[:-1]) / self.present
        return [float(value) for value in cumulative]

    def summary(self) -> dict[str, Any]:
        """Mean, std, min, max, completeness and inferred type of what was added."""
        n = self.present
        return {
            "num_present": n,
            "num_missing": self.missing,
            "completeness": n / (n + self.missing) if n + self.missing else None,
            "inferred_type": "Integral" if n and not self.non_integral else "Fractional",
            "non_integral_share": self.non_integral / n if n else 0.0,
            "mean": self.mean if n else None,
            "std_dev": math.sqrt(self.m2 / n) if n else None,
            "min": self.low if n else None,
            "max": self.high if n else None,
        }


def baseline_cdf(statistics_feature: Mapping[str, Any]) -> tuple[list[float], list[float]]:
    """Edges and the baseline's CDF at each: below each edge, at or below the last.

    With a KLL sketch (``distribution.kll.sketch.data``, as Model Monitor writes it) the edges
    are the buckets' edges and the sketch's deciles, the CDF the sketch's weighted items (level
    ``i`` weighs ``2**i``, Deequ's ``QuantileNonSample``): Model Monitor's buckets are
    equal-width, and on a heavy tail nearly every value sits in their first one, which would
    leave the check blind there. Without a sketch, the buckets alone."""
    kll = (
        ((statistics_feature.get("numerical_statistics") or {}).get("distribution") or {})
        .get("kll") or {}
    )  # fmt: skip
    buckets = kll.get("buckets") or []
    counts = [float(bucket["count"]) for bucket in buckets]
    if not buckets or sum(counts) <= 0:
        return [], []
    edges = [float(buckets[0]["lower_bound"]), *(float(b["upper_bound"]) for b in buckets)]
    if (
        not all(map(math.isfinite, [*edges, *counts]))
        or any(c < 0 for c in counts)
        or any(low > high for low, high in zip(edges, edges[1:], strict=False))
    ):
        name = statistics_feature.get("name", "?")
        raise ValueError(
            f"feature {name}: its KLL buckets are malformed (bounds must be finite and rising, "
            "counts finite and not negative); write the baseline again"
        )
    items, weights = _sketch_items((kll.get("sketch") or {}).get("data") or [])
    if not items.size:
        cumulative = [0.0, *np.cumsum(counts) / sum(counts)]
        return edges, [float(value) for value in cumulative]
    share = np.cumsum(weights) / weights.sum()
    deciles = items[np.minimum(np.searchsorted(share, np.linspace(0.1, 0.9, 9)), items.size - 1)]
    merged = np.unique(np.concatenate([edges, deciles]))
    merged = merged[(merged >= edges[0]) & (merged <= edges[-1])]
    # The last edge twice: the share below the max, then at or below it (a 0/1 flag's whole
    # information is the share below 1; a constant column gets Deequ's [c, c]).
    merged = np.append(merged, merged[-1])
    below = np.concatenate([[0.0], share])[np.searchsorted(items, merged, side="left")]
    below[-1] = 1.0  # at or below the last edge, the baseline's max
    return [float(e) for e in merged], [float(value) for value in below]


def _sketch_items(levels: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
    """A KLL sketch's items, sorted, and their weights (2**level); empty if it holds none."""
    try:
        items = np.concatenate([np.empty(0), *(np.asarray(level, dtype=float) for level in levels)])
        weights = np.concatenate(
            [np.empty(0), *(np.full(len(level), 2.0**index) for index, level in enumerate(levels))]
        )
    except (TypeError, ValueError):  # not a list of number lists: read the buckets alone
        return np.array([]), np.array([])
    finite = np.isfinite(items)
    order = np.argsort(items[finite], kind="stable")
    return items[finite][order], weights[finite][order]


def drift_distance(profile: FeatureProfile, cdf: Sequence[float]) -> float | None:
    """L-infinity distance of the batch's CDF from the baseline's, at the baseline's edges."""
    batch = profile.cdf()
    if not batch or not len(cdf):
        return None
    distance = max(abs(a - b) for a, b in zip(batch, cdf, strict=True))
    return round(distance, DISTANCE_DIGITS)


def compared(value: float, sign: str, limit: float) -> str:
    """``value <sign> limit`` with just enough decimals that the two numbers read differently."""
    for digits in range(3, 16):
        left, right = f"{value:.{digits}f}", f"{limit:.{digits}f}"
        if left != right:
            return f"{left} {sign} {right}"
    return f"{value!r} {sign} {limit!r}"


def _divergence(q: float, p: float) -> float:
    """Kullback-Leibler divergence of Bernoulli(q) from Bernoulli(p), 0 < p <= q <= 1, p < 1
    (``0 log 0`` is 0: at q = 1 the divergence is ``log(1 / p)``)."""
    rest = (1 - q) * math.log((1 - q) / (1 - p)) if q < 1 else 0.0
    return q * math.log(q / p) + rest


def completeness_floor(wanted: float, rows: int) -> float:
    """The lowest completeness a clean batch of ``rows`` rows is allowed.

    With a missing share ``p = 1 - wanted``, P(missing share >= q) <= exp(-rows * KL(q || p))
    (Chernoff-Hoeffding); the floor is ``1 - q`` for the q where that bound is
    `COMPLETENESS_ALPHA`. A baseline without missing values allows none; when even an all-missing
    batch stays within the bound (few rows, many missing in the baseline), the floor is 0.
    """
    p = 1.0 - wanted
    if p <= 0.0 or rows <= 0:
        return wanted
    budget = math.log(1 / COMPLETENESS_ALPHA) / rows
    if p >= 1.0 or _divergence(1.0, p) <= budget:
        return 0.0
    low, high = p, 1.0
    for _ in range(60):  # bisection: the divergence grows with q above p
        middle = (low + high) / 2
        low, high = (middle, high) if _divergence(middle, p) <= budget else (low, middle)
    return 1.0 - high


def ks_coefficient(features: int, alpha: float = KS_ALPHA) -> float:
    """c(alpha / features) of the two-sample KS test: sqrt(-ln(alpha / (2 features)) / 2)."""
    return math.sqrt(-math.log(alpha / (2 * features)) / 2)


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
    cdfs = {name: baseline_cdf(stats[name])[1] for name in profiles if name in stats}
    compared_features = sum(1 for cdf in cdfs.values() if cdf)
    coefficient = ks_coefficient(max(compared_features, 1))
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
        rows = summary["num_present"] + summary["num_missing"]
        if wanted is not None and got is not None:  # None: no rows here
            floor = completeness_floor(float(wanted), rows)
            if got < floor:
                text = f"completeness {compared(got, '<', floor)}"
                violations.append(_violation(name, "completeness_check", text))
        non_negative = (rule.get("num_constraints") or {}).get("is_non_negative")
        if non_negative and summary["min"] is not None and summary["min"] < 0:
            violations.append(_violation(name, "non_negative_check", f"min {summary['min']:g}"))
        distance = drift_distance(profile, cdfs.get(name, []))
        limit = threshold
        if method == "linf_robust" and distance is not None and baseline_rows:
            n, m = profile.present, baseline_rows
            limit = max(threshold, coefficient * math.sqrt((n + m) / (n * m)))
        if drift_on and distance is not None and distance > limit:
            text = f"drift {compared(distance, '>', limit)}"
            violations.append(_violation(name, "baseline_drift_check", text))
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
