"""A stand-in for GitHub on loopback: the repository's settings, `gh`, and the dispatch API.

What the going-live guide does in GitHub is done here against a JSON file (`GitHub.state`):
- `gh` (a small executable put first on PATH) takes the guide's commands as written:
  `gh variable set NAME --body VALUE [--env ENV]`,
  `gh api --method PUT repos/{owner}/{repo}/environments/ENV --input -` (a JSON body on stdin),
  `gh api --method POST repos/{owner}/{repo}/environments/ENV/deployment-branch-policies -f
  name=main -f type=branch` (the environment must exist with `custom_branch_policies` true)
  and `gh workflow run WORKFLOW --ref main -f NAME=VALUE` (a dispatch, checked as the API's).
  As GitHub, it refuses a variable of an environment that does not exist (HTTP 404), and any
  other command (so the guide cannot quietly use one this does not check).
- `POST /repos/OWNER/REPO/actions/workflows/WORKFLOW/dispatches` (what the approval trigger
  calls) answers 204 only for the stored token, the repository, an existing workflow, the ref
  `main` and inputs the workflow declares (GitHub answers 401, 404 and 422 otherwise), and
  records the dispatch for the workflow runner.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

STATE_VARIABLE = "GH_STAND_IN_STATE"
DECLARED_VARIABLE = "GH_STAND_IN_WORKFLOW_INPUTS"
_GH = '''#!{python}
"""gh, as far as the going-live guide uses it (testbed/github.py)."""
import json, os, re, sys

state_path = os.environ["{state_variable}"]
state = json.load(open(state_path))
args = sys.argv[1:]


def fail(message):
    print(f"gh: {{message}}", file=sys.stderr)
    sys.exit(1)


def option(name):
    if name not in args:
        return None
    index = args.index(name)
    if index + 1 >= len(args):
        fail(f"{{name}} needs a value")
    return args[index + 1]


if args[:2] == ["variable", "set"] and len(args) > 2:
    name, body, environment = args[2], option("--body"), option("--env")
    if body is None:
        fail("variable set needs --body (this stand-in reads no prompt)")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        fail(f"invalid variable name {{name!r}}")
    if environment is None:
        state["variables"][name] = body
    elif environment not in state["environments"]:
        fail(f"HTTP 404: environment {{environment}} not found (create it first)")
    else:
        state["environments"][environment]["variables"][name] = body
elif args[:2] == ["workflow", "run"] and len(args) > 2:
    workflow, ref = args[2], option("--ref") or "main"
    fields = [args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-f", "--raw-field")]
    inputs = dict(field.split("=", 1) for field in fields)
    declared = json.loads(os.environ.get("{declared_variable}", "{{}}")).get(workflow)
    if declared is None:
        fail(f"HTTP 404: workflow {{workflow}} not found")
    if ref != "main" or not set(inputs) <= set(declared):
        fail(f"HTTP 422: ref {{ref}} or inputs {{sorted(inputs)}} not accepted")
    state["dispatches"].append({{"workflow": workflow, "ref": ref, "inputs": inputs}})
elif args[:1] == ["api"] and option("--method") == "PUT" and option("--input") == "-":
    owner, repo = state["repository"].split("/")
    path = next(a for a in args[1:] if not a.startswith("-") and a not in ("PUT", "-"))
    path = path.replace("{{owner}}", owner).replace("{{repo}}", repo).strip("/")
    match = re.fullmatch(r"repos/([^/]+/[^/]+)/environments/([^/]+)", path)
    if not match or match.group(1) != state["repository"]:
        fail(f"HTTP 404: {{path}}")
    body = json.load(sys.stdin)
    entry = state["environments"].setdefault(match.group(2), {{"variables": {{}}}})
    entry["reviewers"] = body.get("reviewers", [])
    entry["prevent_self_review"] = bool(body.get("prevent_self_review", False))
    entry["deployment_branch_policy"] = body.get("deployment_branch_policy")
elif args[:1] == ["api"] and option("--method") == "POST":
    owner, repo = state["repository"].split("/")
    path = next((a for a in args[1:] if a.startswith("repos/")), "")
    path = path.replace("{{owner}}", owner).replace("{{repo}}", repo).strip("/")
    match = re.fullmatch(r"repos/([^/]+/[^/]+)/environments/([^/]+)/deployment-branch-policies",
                         path)
    if not match or match.group(1) != state["repository"]:
        fail(f"HTTP 404: {{path}}")
    entry = state["environments"].get(match.group(2))
    custom = ((entry or {{}}).get("deployment_branch_policy") or {{}}).get("custom_branch_policies")
    if entry is None or not custom:  # "custom_branch_policies must be set to true" (REST docs)
        fail(f"HTTP 404: {{path}} (the environment must exist with custom_branch_policies true)")
    fields = dict(args[i + 1].split("=", 1) for i, a in enumerate(args[:-1]) if a == "-f")
    if not fields.get("name") or fields.get("type", "branch") not in ("branch", "tag"):
        fail("HTTP 422: a branch policy needs -f name=PATTERN (and -f type=branch or tag)")
    entry.setdefault("branch_policies", []).append(
        {{"name": fields["name"], "type": fields.get("type", "branch")}}
    )
else:
    fail("known: `variable set`, `api --method PUT .../environments/NAME --input -`, "
         "`api --method POST .../environments/NAME/deployment-branch-policies -f name=...`")
json.dump(state, open(state_path, "w"), indent=2)
'''


@dataclass
class GitHub:
    """The stand-in's state file, its `gh` and the workflow files it dispatches."""

    state: Path
    bin_dir: Path
    workflows: Path

    @classmethod
    def create(cls, home: Path, repository: str, python: str, workflows: Path) -> GitHub:
        """A repository with no variables and no environments, and `gh` in `home/bin`."""
        (home / "bin").mkdir(parents=True, exist_ok=True)
        state = home / "github.json"
        empty = {"repository": repository, "variables": {}, "environments": {}, "dispatches": []}
        state.write_text(json.dumps(empty, indent=2), encoding="utf-8")
        gh = home / "bin" / "gh"
        script = _GH.format(
            python=python, state_variable=STATE_VARIABLE, declared_variable=DECLARED_VARIABLE
        )
        gh.write_text(script, encoding="utf-8")
        gh.chmod(0o755)
        return cls(state, home / "bin", workflows)

    def read(self) -> dict[str, Any]:
        """The settings as GitHub holds them now."""
        data: dict[str, Any] = json.loads(self.state.read_text(encoding="utf-8"))
        return data

    def environment(self) -> dict[str, str]:
        """Environment variables that make `gh` this stand-in."""
        declared = {
            path.name: sorted(self.declared_inputs(path.name) or [])
            for path in sorted(self.workflows.glob("*.yml"))
        }
        return {STATE_VARIABLE: str(self.state), DECLARED_VARIABLE: json.dumps(declared)}

    def variables(self, environment: str | None) -> dict[str, str]:
        """`vars` of a job: the repository's variables, overridden by its environment's."""
        data = self.read()
        own = data["environments"].get(environment, {}).get("variables", {}) if environment else {}
        return {**data["variables"], **own}

    def record_dispatch(self, dispatch: dict[str, Any]) -> None:
        data = self.read()
        data["dispatches"].append(dispatch)
        self.state.write_text(json.dumps(data, indent=2), encoding="utf-8")

    def declared_inputs(self, workflow: str) -> set[str] | None:
        """The workflow_dispatch inputs of a workflow file, None when there is no such file."""
        path = self.workflows / workflow
        if not path.is_file():
            return None
        return set(dispatch_inputs(yaml.safe_load(path.read_text(encoding="utf-8"))))


def dispatch_inputs(workflow: dict[Any, Any]) -> dict[str, Any]:
    """The `workflow_dispatch` inputs a parsed workflow declares, with their specs."""
    triggers = workflow.get(True) or workflow.get("on") or {}  # YAML 1.1 reads `on` as True
    dispatch = triggers.get("workflow_dispatch") or {}
    return dict(dispatch.get("inputs") or {})


def _answer(github: GitHub, token: str, path: str, headers: Any, body: bytes) -> int:
    owner_repo = github.read()["repository"]
    prefix, suffix = f"/repos/{owner_repo}/actions/workflows/", "/dispatches"
    if headers.get("Authorization") not in (f"Bearer {token}", f"token {token}"):
        return 401
    if not (path.startswith(prefix) and path.endswith(suffix)):
        return 404
    workflow = path[len(prefix) : -len(suffix)]
    declared = github.declared_inputs(workflow)
    if declared is None:
        return 404
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        return 400
    inputs = request.get("inputs") or {}
    if request.get("ref") != "main" or not set(inputs) <= declared:
        return 422
    if not all(isinstance(value, str) for value in inputs.values()):
        return 422  # the REST API takes every input as a string
    github.record_dispatch({"workflow": workflow, "ref": request["ref"], "inputs": inputs})
    return 204


@contextmanager
def dispatch_api(github: GitHub, token: str) -> Iterator[str]:
    """Serve the workflow_dispatch endpoint on 127.0.0.1; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the http.server API)
            length = int(self.headers.get("Content-Length") or 0)
            status = _answer(github, token, self.path, self.headers, self.rfile.read(length))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Quiet: the rehearsal reports dispatches itself."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
