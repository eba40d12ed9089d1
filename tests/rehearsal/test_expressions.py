"""GitHub Actions expressions as deploy.yml uses them, with GitHub's documented semantics."""

from __future__ import annotations

from typing import Any

import pytest

from demo.rehearsal.expressions import ExpressionError, condition, evaluate, substitute

CONTEXT: dict[str, Any] = {
    "vars": {"AWS_ROLE_ARN": "arn:aws:iam::1:role/r", "EMPTY": ""},
    "inputs": {"skip_prod": False, "model_package_arn": ""},
    "steps": {"stage": {"outputs": {"region": "eu-west-1"}}},
    "needs": {"prod-plan": {"outputs": {"plan_artifact_id": "7"}}},
}


def ok(_: str) -> bool:
    return {"success": True, "failure": False, "always": True, "cancelled": False}[_]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("vars.AWS_ROLE_ARN", "arn:aws:iam::1:role/r"),
        ("vars.MISSING", None),  # a missing property is null
        ("vars.MISSING || steps.stage.outputs.region", "eu-west-1"),  # || returns an operand
        ("vars.AWS_ROLE_ARN != ''", True),
        ("vars.EMPTY != ''", False),
        ("!inputs.skip_prod", True),
        ("needs.prod-plan.outputs.plan_artifact_id", "7"),  # names may hold hyphens
        ("vars['AWS_ROLE_ARN'] == 'ARN:AWS:IAM::1:ROLE/R'", True),  # strings compare without case
        ("'it''s'", "it's"),
        ("1 == '1'", True),  # other types are coerced to numbers
        ("!cancelled()", True),
    ],
)
def test_expressions_follow_githubs_semantics(text: str, expected: Any) -> None:
    # WHEN an expression is evaluated THEN it gives what GitHub gives
    assert evaluate(text, CONTEXT, ok) == expected


def test_substitution_writes_values_as_the_runner_does() -> None:
    # GIVEN a value with several expressions, one null, one boolean
    text = "role=${{ vars.AWS_ROLE_ARN }} none=${{ vars.MISSING }} skip=${{ inputs.skip_prod }}"
    # THEN null is empty and booleans are lower case
    assert substitute(text, CONTEXT, ok) == "role=arn:aws:iam::1:role/r none= skip=false"


def test_a_condition_without_a_status_function_needs_success() -> None:
    # GIVEN a failed earlier step
    def failed(name: str) -> bool:
        return {"success": False, "failure": True, "always": True, "cancelled": False}[name]

    # THEN a plain condition does not run, always() and failure() do
    assert not condition("${{ vars.AWS_ROLE_ARN != '' }}", CONTEXT, failed)
    assert condition("${{ always() }}", CONTEXT, failed)
    assert condition("failure()", CONTEXT, failed)


@pytest.mark.parametrize("text", ["contains(vars.X, 'a')", "vars.X >= 1", "vars.X ? 1 : 2"])
def test_an_unknown_construct_stops_instead_of_being_guessed(text: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(text, CONTEXT, ok)
