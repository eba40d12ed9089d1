"""False alarms and power of the data-quality gate over the kinds of features users have.

    .venv/bin/python -m bench.bench_quality [--draws 1000] [--rows 1000] [--baseline-rows 10000]
        [--baseline-form writer|model-monitor|buckets-only]

A baseline is written by pipelines/baseline.py from rows of ten feature kinds (whole-number
counts, 0/1 flags, a constant, heavy tails, negative values, large magnitudes, missing values,
few distinct values); batches are drawn from the same distributions and judged by the gate's own
code (quality.FeatureProfile and quality.evaluate, as Preprocess runs them). A batch with any
violation is a false alarm. Then one feature at a time is shifted or rescaled, and the gate must
name exactly that feature. `--baseline-form model-monitor` reshapes each baseline as Model
Monitor writes one (equal-width buckets, a multi-level KLL sketch); `buckets-only` drops the
sketch, as the gate read baselines before it used sketches. Every draw is seeded: the figures
are reproducible. Printed, not asserted (tests/evidence/test_quality_statistics.py asserts the
documented bounds).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipelines import baseline
from pipelines.steps import quality

Draw = Callable[[np.random.Generator, int], np.ndarray]
BATCHES_PER_BASELINE = 100
FORMS = ("writer", "model-monitor", "buckets-only")
EPOCH_MS = 1.7e12  # a timestamp in milliseconds: large magnitude, small relative spread
DAY_MS = 86_400_000.0


@dataclass(frozen=True)
class Kind:
    """One feature kind: how to draw it, and a change of it that the gate must catch."""

    name: str
    draw: Draw
    changed: Draw
    change: str


def _with_missing(rng: np.random.Generator, values: np.ndarray, share: float) -> np.ndarray:
    values = values.astype(float)
    values[rng.random(values.size) < share] = np.nan
    return values


FEW = np.array([1.0, 2.0, 3.0, 5.0, 8.0])
FEW_P = np.array([0.4, 0.25, 0.15, 0.12, 0.08])

KINDS = (
    Kind("amount", lambda r, n: r.normal(50, 10, n), lambda r, n: r.normal(55, 10, n), "+0.5 sd"),
    Kind("tickets_90d", lambda r, n: r.poisson(3, n), lambda r, n: r.poisson(3, n) + 1, "+1"),
    Kind(
        "sessions_7d",
        lambda r, n: r.negative_binomial(2, 0.15, n),
        lambda r, n: r.negative_binomial(2, 0.15, n) * 1.5,
        "x1.5",
    ),
    Kind(
        "is_member",
        lambda r, n: r.binomial(1, 0.3, n),
        lambda r, n: r.binomial(1, 0.45, n),
        "p 0.30 -> 0.45",
    ),
    Kind("region_code", lambda r, n: np.full(n, 7.0), lambda r, n: np.full(n, 8.0), "7 -> 8"),
    Kind(
        "revenue",
        lambda r, n: r.lognormal(3, 1.5, n),
        lambda r, n: r.lognormal(3, 1.5, n) * 3,
        "x3",
    ),
    Kind(
        "balance_change",
        lambda r, n: r.standard_t(3, n) * 100,
        lambda r, n: r.standard_t(3, n) * 100 - 100,
        "-1 scale",
    ),
    Kind(
        "event_time_ms",
        lambda r, n: EPOCH_MS + r.uniform(0, 30 * DAY_MS, n),
        lambda r, n: EPOCH_MS + 5 * DAY_MS + r.uniform(0, 30 * DAY_MS, n),
        "+5 days",
    ),
    Kind(
        "income",
        lambda r, n: _with_missing(r, r.normal(40_000, 8_000, n), 0.05),
        lambda r, n: _with_missing(r, r.normal(40_000, 8_000, n), 0.05) * 1.5,
        "x1.5",
    ),
    Kind(
        "household",
        lambda r, n: r.choice(FEW, n, p=FEW_P),
        lambda r, n: r.choice(FEW, n, p=FEW_P[::-1]),
        "reversed shares",
    ),
)


def frame(rng: np.random.Generator, rows: int, changed: str | None = None) -> pd.DataFrame:
    """``rows`` rows of every kind (the ``changed`` one drawn from its changed distribution)."""
    return pd.DataFrame(
        {k.name: (k.changed if k.name == changed else k.draw)(rng, rows) for k in KINDS}
    )


def baseline_documents(
    seed: int, rows: int, form: str = "writer"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """statistics.json and constraints.json of ``rows`` clean rows, by the baseline writer
    (``form`` "writer"), or reshaped as Model Monitor writes them ("model-monitor": ten
    equal-width buckets and a multi-level KLL sketch; "buckets-only": the buckets alone)."""
    training = frame(np.random.default_rng(seed), rows)
    statistics = baseline.statistics_document(training)
    if form != "writer":
        rng = np.random.default_rng(seed + 1)
        for feature in statistics["features"]:
            values = training[feature["name"]].to_numpy(dtype=float)
            kll = feature["numerical_statistics"]["distribution"]["kll"]
            kll["buckets"] = equal_width_buckets(values[np.isfinite(values)])
            if form == "model-monitor":
                kll["sketch"]["data"] = kll_sketch(values[np.isfinite(values)], rng)
            else:
                del kll["sketch"]
    return statistics, baseline.constraints_document(statistics)


def equal_width_buckets(values: np.ndarray, count: int = baseline.BUCKETS) -> list[dict[str, Any]]:
    """Model Monitor's buckets: ``count`` of equal width from min to max, the gate's edge rule."""
    edges = np.linspace(values.min(), values.max(), count + 1)
    counts = quality.bucket_counts(values, edges)[1:-1]
    return [
        {"lower_bound": float(edges[i]), "upper_bound": float(edges[i + 1]), "count": int(c)}
        for i, c in enumerate(counts)
    ]


def kll_sketch(
    values: np.ndarray, rng: np.random.Generator, k: int = baseline.SKETCH_K, chunk: int = 64
) -> list[list[float]]:
    """A multi-level sketch as Deequ's compactors build one (QuantileNonSample: level ``h`` holds
    at most ``2 * (ceil(k * 0.64**h / 2) + 1)`` items; a full level is sorted and every other
    item, from a random first, moves up a level at twice the weight), fed ``chunk`` values at
    a time rather than one by one (the bench's shortcut)."""
    levels: list[list[float]] = [[]]

    def capacity(height: int) -> int:
        return 2 * (int(np.ceil(k * baseline.SKETCH_C**height / 2)) + 1)

    for start in range(0, values.size, chunk):
        levels[0].extend(values[start : start + chunk].tolist())
        while sum(map(len, levels)) > sum(capacity(h) for h in range(len(levels))):
            height = next(h for h, level in enumerate(levels) if len(level) >= capacity(h))
            if height + 1 == len(levels):
                levels.append([])
            ordered = sorted(levels[height])
            kept = [ordered.pop()] if len(ordered) % 2 else []
            levels[height + 1].extend(ordered[int(rng.integers(2)) :: 2])
            levels[height] = kept
    return levels


def judge(
    batch: pd.DataFrame, statistics: dict[str, Any], constraints: dict[str, Any]
) -> dict[str, Any]:
    """The gate's verdict on ``batch`` (profiled and evaluated as Preprocess does)."""
    stats = {f["name"]: f for f in statistics["features"]}
    profiles = {}
    for name in batch.columns:
        profile = quality.FeatureProfile(quality.baseline_cdf(stats[name])[0])
        profile.add(batch[name].to_numpy(dtype=float))
        profiles[name] = profile
    return quality.evaluate(profiles, statistics=statistics, constraints=constraints)


def false_alarms(
    draws: int, rows: int, baseline_rows: int, form: str = "writer"
) -> tuple[int, dict[str, int]]:
    """Batches (of ``draws``) with any violation, and the violations per feature."""
    alarms, per_feature = 0, {k.name: 0 for k in KINDS}
    documents = None
    for draw in range(draws):
        if draw % BATCHES_PER_BASELINE == 0:  # a new training sample every 100 batches
            documents = baseline_documents(10_000 + draw, baseline_rows, form)
        assert documents is not None
        result = judge(frame(np.random.default_rng(draw), rows), *documents)
        named = {v["feature_name"] for v in result["violations"]}
        alarms += bool(named)
        for name in named:
            per_feature[name] += 1
    return alarms, per_feature


def detections(
    draws: int, rows: int, baseline_rows: int, form: str = "writer"
) -> dict[str, tuple[int, int]]:
    """Per kind: draws in which the changed feature was named, and in which ONLY it was."""
    documents = baseline_documents(99, baseline_rows, form)
    found: dict[str, tuple[int, int]] = {}
    for kind in KINDS:
        named_it = only_it = 0
        for draw in range(draws):
            batch = frame(np.random.default_rng(50_000 + draw), rows, changed=kind.name)
            result = judge(batch, *documents)
            named = {v["feature_name"] for v in result["violations"]}
            named_it += kind.name in named
            only_it += named == {kind.name}
        found[kind.name] = (named_it, only_it)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--draws", type=int, default=1000, help="clean batches to judge")
    parser.add_argument("--rows", default="1000,200", help="comma-separated batch sizes")
    parser.add_argument("--baseline-rows", type=int, default=10_000)
    parser.add_argument("--power-draws", type=int, default=100)
    parser.add_argument(
        "--baseline-form", choices=FORMS, default="writer",
        help="the baseline writer's, or Model Monitor's equal-width buckets with "
             "(model-monitor) or without (buckets-only) a KLL sketch",
    )  # fmt: skip
    args = parser.parse_args(argv)
    form = args.baseline_form
    print(f"data-quality gate: {len(KINDS)} features, baseline of {args.baseline_rows:,} rows "
          f"({form}),")  # fmt: skip
    print(f"default threshold {quality.DEFAULT_COMPARISON_THRESHOLD} (Robust), seeded draws\n")
    for rows in [int(value) for value in args.rows.split(",")]:
        alarms, per_feature = false_alarms(args.draws, rows, args.baseline_rows, form)
        worst = ", ".join(f"{n} {c}" for n, c in per_feature.items() if c) or "none"
        print(f"clean batches of {rows:,} rows: {alarms} of {args.draws} raised an alarm "
              f"({alarms / args.draws:.2%}); per feature: {worst}")  # fmt: skip
    rows = int(args.rows.split(",")[0])
    print(f"\nchanged feature, {args.power_draws} batches of {rows:,} rows each:")
    print("| feature | change | named | named alone |")
    print("|---|---|---|---|")
    found = detections(args.power_draws, rows, args.baseline_rows, form)
    for kind in KINDS:
        named_it, only_it = found[kind.name]
        print(f"| {kind.name} | {kind.change} | {named_it}/{args.power_draws} | "
              f"{only_it}/{args.power_draws} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
