"""Conformance with the scikit-learn serving container (reference §3 and §5)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import joblib
import pytest

from pipelines.local.container import InvocationError, ScriptContainer, load_user_module
from pipelines.local.errors import StepError
from tests.local.local_helpers import DEFAULT_HOOKS_MODULE


def make_container(
    tmp_path: Path,
    model: Any,
    source: str = DEFAULT_HOOKS_MODULE,
    env: dict[str, str] | None = None,
) -> ScriptContainer:
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "inference.py").write_text(textwrap.dedent(source))
    joblib.dump(model, tmp_path / "model.joblib")
    return ScriptContainer(load_user_module(code, "inference.py"), tmp_path, env or {})


def test_two_csv_rows_give_one_prediction_per_line(tmp_path: Path, tiny_model: Any) -> None:
    # GIVEN the default hooks
    container = make_container(tmp_path, tiny_model)
    # WHEN two rows are sent as CSV asking for CSV
    response = container.invoke(b"3,0,0\n-3,0,0\n", "text/csv", "text/csv")
    # THEN the body is csv.writer output with a trailing newline
    assert response.body == b"1\n0\n"


def test_single_row_fails_because_the_decoder_squeezes_it(tmp_path: Path, tiny_model: Any) -> None:
    container = make_container(tmp_path, tiny_model)
    with pytest.raises(InvocationError, match="2D array") as caught:
        container.invoke(b"3,0,0\n", "text/csv", "text/csv")
    assert caught.value.status == 500


def test_header_row_is_data_and_fails(tmp_path: Path, tiny_model: Any) -> None:
    container = make_container(tmp_path, tiny_model)
    with pytest.raises(InvocationError, match="could not convert string to float"):
        container.invoke(b"a,b,c\n3,0,0\n-3,0,0\n", "text/csv", "text/csv")


@pytest.mark.parametrize("body", [b"", b"3,0,0\n\n-3,0,0\n", b"3,,0\n-3,0,0\n"])
def test_empty_body_blank_line_and_missing_value_fail(
    tmp_path: Path, tiny_model: Any, body: bytes
) -> None:
    container = make_container(tmp_path, tiny_model)
    with pytest.raises(InvocationError):
        container.invoke(body, "text/csv", "text/csv")


def test_crlf_line_endings_are_fine(tmp_path: Path, tiny_model: Any) -> None:
    container = make_container(tmp_path, tiny_model)
    assert container.invoke(b"3,0,0\r\n-3,0,0\r\n", "text/csv", "text/csv").body == b"1\n0\n"


@pytest.mark.parametrize("accept", [None, "*/*"])
def test_missing_accept_answers_json(tmp_path: Path, tiny_model: Any, accept: str | None) -> None:
    container = make_container(tmp_path, tiny_model)
    response = container.invoke(b"3,0,0\n-3,0,0\n", "text/csv", accept)
    assert (response.body, response.content_type) == (b"[1, 0]", "application/json")


def test_default_accept_comes_from_the_environment(tmp_path: Path, tiny_model: Any) -> None:
    env = {"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv"}
    container = make_container(tmp_path, tiny_model, env=env)
    assert container.invoke(b"3,0,0\n-3,0,0\n", "text/csv", None).body == b"1\n0\n"


@pytest.mark.parametrize(
    ("content_type", "accept"),
    [
        ("text/csv; charset=utf-8", "text/csv"),
        ("application/jsonlines", "text/csv"),
        ("application/x-parquet", "text/csv"),
        ("text/csv", "application/x-parquet"),
        (None, "text/csv"),  # no Content-Type: the CSV body is parsed as JSON
    ],
)
def test_unsupported_or_missing_media_types_are_500(
    tmp_path: Path, tiny_model: Any, content_type: str | None, accept: str
) -> None:
    container = make_container(tmp_path, tiny_model)
    with pytest.raises(InvocationError) as caught:
        container.invoke(b"3,0,0\n-3,0,0\n", content_type, accept)
    assert caught.value.status == 500


def test_json_input_of_rows_works_but_a_flat_list_fails(tmp_path: Path, tiny_model: Any) -> None:
    container = make_container(tmp_path, tiny_model)
    ok = container.invoke(b"[[3, 0, 0], [-3, 0, 0]]", "application/json", "application/json")
    assert ok.body == b"[1, 0]"
    with pytest.raises(InvocationError):
        container.invoke(b"[3, 0, 0]", "application/json", "application/json")
    with pytest.raises(InvocationError, match="Extra data"):
        container.invoke(b"[[3, 0, 0]]\n[[-3, 0, 0]]\n", "application/json", "application/json")


def test_transform_fn_with_input_fn_is_rejected(tmp_path: Path, tiny_model: Any) -> None:
    source = DEFAULT_HOOKS_MODULE + "\ndef transform_fn(m, b, c, a):\n    return b\n"
    source += "\ndef input_fn(b, c):\n    return b\n"
    with pytest.raises(StepError, match="transform_fn together with"):
        make_container(tmp_path, tiny_model, source)


def test_transform_fn_tuple_result_and_str_body(tmp_path: Path, tiny_model: Any) -> None:
    source = DEFAULT_HOOKS_MODULE + (
        "\ndef transform_fn(model, body, content_type, accept):\n"
        "    return (type(body).__name__ + ':' + content_type + ':' + accept, 'text/plain')\n"
    )
    container = make_container(tmp_path, tiny_model, source)
    response = container.invoke(b"x", "text/csv", "text/csv")
    assert (response.body, response.content_type) == (b"str:text/csv:text/csv", "text/plain")
    assert container.invoke(b"x", "application/x-npy", "a/b").body == b"bytes:application/x-npy:a/b"


def test_missing_model_fn_fails_at_start(tmp_path: Path, tiny_model: Any) -> None:
    with pytest.raises(StepError, match="model_fn failed: NotImplementedError"):
        make_container(tmp_path, tiny_model, "X = 1\n")
