"""The approval trigger reserves no Lambda concurrency unless asked: accounts with the default
quota of 10 refuse any reservation ("decreases account's UnreservedConcurrentExecution below its
minimum value of [10]")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hcl2

MODULE = Path(__file__).resolve().parents[2] / "approval_trigger"


def _load(name: str) -> dict[str, Any]:
    options = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False)
    with (MODULE / name).open(encoding="utf-8") as handle:
        return dict(hcl2.load(handle, serialization_options=options))


def _variable(name: str) -> dict[str, Any]:
    return next(v[name] for v in _load("variables.tf")["variable"] if name in v)


def test_no_concurrency_is_reserved_by_default() -> None:
    variable = _variable("reserved_concurrent_executions")

    assert variable["default"] is None
    assert "minimum value of [10]" in variable["description"]


def test_zero_is_refused_because_lambda_would_throttle_every_invocation() -> None:
    (validation,) = _variable("reserved_concurrent_executions")["validation"]

    assert validation["condition"] == (
        "${var.reserved_concurrent_executions == null ? true : "
        "var.reserved_concurrent_executions >= 1}"
    )


def test_function_maps_no_reservation_to_the_providers_unreserved_value() -> None:
    function = next(
        r["aws_lambda_function"]["dispatch"]
        for r in _load("main.tf")["resource"]
        if "aws_lambda_function" in r
    )

    assert function["reserved_concurrent_executions"] == (
        "${var.reserved_concurrent_executions == null ? -1 : var.reserved_concurrent_executions}"
    )
