"""The demo's own container: SageMaker's HTTP contract for a logistic model given as weights.

Standard library only. SageMaker runs it as the image's `serve` on port 8080; the local runner
runs it by the package's LOCAL_SERVE_COMMAND on SAGEMAKER_BIND_TO_PORT. It answers `GET /ping`
and `POST /invocations` (text/csv, one row of features per line, no header; one score per line
back); `/execution-parameters` is optional in the contract: 404, so the stage's values hold.
The model is /opt/ml/model/model.json (run locally: the model directory holding this file's
code/), `{"features": [...], "weights": [...], "bias": b}`.
"""

from __future__ import annotations

import json
import math
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CONTAINER_MODEL_DIR = Path("/opt/ml/model")
WEIGHTS: list[float] = []
BIAS = 0.0


def load(model_dir: Path) -> None:
    """Read model.json (once, before serving)."""
    global BIAS
    model = json.loads((model_dir / "model.json").read_text(encoding="utf-8"))
    WEIGHTS[:] = [float(w) for w in model["weights"]]
    BIAS = float(model["bias"])


def score(line: str) -> str:
    """The positive-class probability of one CSV row."""
    values = [float(v) for v in line.split(",")]
    if len(values) != len(WEIGHTS):
        raise ValueError(f"a row has {len(values)} values; the model reads {len(WEIGHTS)}")
    z = BIAS + sum(w * v for w, v in zip(WEIGHTS, values, strict=True))
    return repr(1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z)))


class Handler(BaseHTTPRequestHandler):
    """/ping and /invocations."""

    def _answer(self, status: int, body: bytes, content_type: str = "text/csv") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path == "/ping":
            self._answer(200, b"")
        else:
            self._answer(404, b"")

    def do_POST(self) -> None:  # noqa: N802
        if self.path != "/invocations":
            self._answer(404, b"")
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8")
        try:
            scores = [score(line) for line in body.splitlines() if line.strip()]
        except ValueError as error:
            self._answer(400, f"{error}\n".encode(), "text/plain")
            return
        self._answer(200, "".join(f"{s}\n" for s in scores).encode())

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


if __name__ == "__main__":
    # In the image: /opt/ml/model; run locally from the extracted model: this file's model dir.
    here = Path(__file__).resolve().parents[1]
    load(CONTAINER_MODEL_DIR if (CONTAINER_MODEL_DIR / "model.json").is_file() else here)
    port = int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080"))
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
