"""An embedded moto server holding the dev, pre-prod and prod accounts.

Accounts are told apart by assume_role: moto maps each assumed role's keys to that role's account.
Never pin moto to one account through its environment override: it would merge all three.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse, HTTPHeaders

from utils import new_session

# The demo world's own stage files and bootstrap settings (its accounts, buckets and group), apart
# from the repository's, which belong to the model's team (docs/fleet.md).
DEMO_STAGES = Path(__file__).resolve().parents[1] / "demo" / "stages"
DEV_ACCOUNT = "111111111111"
PRE_PROD_ACCOUNT = "222222222222"
PROD_ACCOUNT = "333333333333"
REGION = "us-east-1"
DEPLOY_ROLE = "deployer"
_FAKE_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
}
# What of a user's own AWS setup the embedded AWS keeps out (with every AWS_ENDPOINT_URL_<SERVICE>).
NO_AWS_FILES = {"AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
HIDDEN_AWS_SETTINGS = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")


def role_arn(account_id: str, name: str = DEPLOY_ROLE) -> str:
    """The ARN of a role in one of the local accounts."""
    return f"arn:aws:iam::{account_id}:role/{name}"


def account_session(account_id: str, region: str = REGION) -> boto3.Session:
    """A session in `account_id`, through assume_role from the ambient fake credentials."""
    sts = new_session(region_name=region).client("sts")  # the environment as it is now
    credentials = sts.assume_role(RoleArn=role_arn(account_id), RoleSessionName="local-aws")[
        "Credentials"
    ]
    return new_session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )


def credentials_environment(session: boto3.Session) -> dict[str, str]:
    """The session's credentials as AWS_* environment variables (for Terraform and scripts)."""
    credentials = session.get_credentials()
    assert credentials is not None, "a session from account_session always has credentials"
    frozen = credentials.get_frozen_credentials()
    return {
        "AWS_ACCESS_KEY_ID": str(frozen.access_key),
        "AWS_SECRET_ACCESS_KEY": str(frozen.secret_key),
        "AWS_SESSION_TOKEN": str(frozen.token or ""),
        "AWS_REGION": session.region_name or REGION,
        "AWS_DEFAULT_REGION": session.region_name or REGION,
    }


def create_bucket(session: boto3.Session, bucket: str) -> None:
    """Create a bucket in the session's region (outside us-east-1 it needs a constraint)."""
    s3 = session.client("s3")
    if session.region_name == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(
            Bucket=bucket,
            CreateBucketConfiguration={"LocationConstraint": session.region_name},  # type: ignore[typeddict-item]
        )


def serve_one_request_at_a_time(server: Any) -> None:
    """Handle the server's requests one after the other. moto's backends are not thread-safe
    (moto says so: getmoto/moto#5643) and Terraform's provider sends a dozen requests at once.
    Under load the demo and tests/iam saw a CreateRole fail with EntityAlreadyExists for the role
    it had just created (the SDK retried a first attempt whose answer it could not use; the exact
    race was not pinned down). AWS answers each request as if alone: so does the lock."""
    application = server.app
    lock = threading.Lock()

    def serialized(environ: dict[str, Any], start_response: Any) -> Any:
        with lock:
            _serving.lock = lock
            try:
                return list(application(environ, start_response))
            finally:
                _serving.lock = None

    server.app = serialized


_serving = threading.local()  # the lock the handler running in this thread holds, if any


@contextmanager
def answering_others() -> Iterator[None]:
    """Within a request's handler that makes requests of its own to this server (a started
    pipeline running, testbed/services.py), let the server answer them: without this the
    handler waits on requests the lock holds back (the smoke run timed out after 60 s)."""
    lock = getattr(_serving, "lock", None)
    if lock is None:  # not in a serialized server's handler (the in-process mock)
        yield
        return
    _serving.lock = None
    lock.release()
    try:
        yield
    finally:
        lock.acquire()
        _serving.lock = lock


@contextmanager
def local_aws() -> Iterator[str]:
    """Start a moto server on 127.0.0.1 (a free port), corrected where it answers unlike AWS
    (testbed/moto_fixes.py), and point boto3 at it through the environment; everything is restored
    on exit. Yields the endpoint URL.

    Its accounts start empty: moto keeps its state per process, so an earlier embedded AWS of
    the same process (a test, a demo run in-process) is reset first."""
    from moto.server import ThreadedMotoServer  # heavy: only where a server is started

    from testbed.moto_fixes import aws_answers

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    serve_one_request_at_a_time(server._server)  # noqa: SLF001 (moto's werkzeug server)
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset, timeout=30).close()  # noqa: S310 (our own loopback server)
    # The user's own AWS configuration stays out while it runs: a profile (missing here, or
    # naming a real account), its config files, a service's own endpoint variable would each
    # send the embedded world's calls elsewhere or stop them.
    hidden = [key for key in os.environ if key.startswith("AWS_ENDPOINT_URL_")] + list(
        HIDDEN_AWS_SETTINGS
    )
    saved = {key: os.environ.get(key) for key in (*_FAKE_ENVIRONMENT, *NO_AWS_FILES, *hidden,
                                                  "AWS_ENDPOINT_URL")}  # fmt: skip
    for key in hidden:
        os.environ.pop(key, None)
    os.environ.update(_FAKE_ENVIRONMENT, **NO_AWS_FILES, AWS_ENDPOINT_URL=endpoint)
    try:
        with aws_answers():
            yield endpoint
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def refuse(client: Any, operation: str, code: str = "AccessDenied") -> None:
    """Make `operation` on this client fail as AWS refuses a call without permission.

    moto stores bucket policies but never enforces them, so permission paths are tested this way.
    """

    def respond(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        error = {"Code": code, "Message": f"not authorized to perform {operation}"}
        return AWSResponse("https://aws.invalid", 403, HTTPHeaders(), None), {"Error": error}

    client.meta.events.register(f"before-call.*.{operation}", respond)


ACCOUNTS = (DEV_ACCOUNT, PRE_PROD_ACCOUNT, PROD_ACCOUNT)
_EVERYTHING = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


@dataclass(frozen=True)
class Administrator:
    """An IAM user allowed everything in one account: who applies the bootstrap roots."""

    account_id: str
    access_key_id: str
    secret_access_key: str = field(repr=False)

    def environment(self, region: str = REGION) -> dict[str, str]:
        """Its credentials as AWS_* environment variables (no session token: a user's keys)."""
        return {"AWS_ACCESS_KEY_ID": self.access_key_id,
                "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
                "AWS_REGION": region, "AWS_DEFAULT_REGION": region}  # fmt: skip

    def session(self, region: str = REGION) -> boto3.Session:
        """A session with its credentials."""
        return new_session(
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            region_name=region,
        )


def create_administrators(accounts: tuple[str, ...] = ACCOUNTS) -> dict[str, Administrator]:
    """An administrator user in each account; run it before enforcement starts, so that every
    later request, the administrators' included, is authorized by IAM."""
    administrators = {}
    for account in accounts:
        iam = account_session(account).client("iam")
        iam.create_user(UserName="administrator")
        iam.put_user_policy(UserName="administrator", PolicyName="everything",
                            PolicyDocument=json.dumps(_EVERYTHING))  # fmt: skip
        key = iam.create_access_key(UserName="administrator")["AccessKey"]
        administrators[account] = Administrator(account, key["AccessKeyId"], key["SecretAccessKey"])
    return administrators


def create_service_role(session: boto3.Session, role_arn: str, service: str) -> None:
    """A role `service` may assume (what the bootstrap creates), unless it exists: so that the
    embedded service can act as it (testbed/services.py). No permission is attached: the demo's
    embedded AWS does not enforce IAM."""
    iam = session.client("iam")
    name = role_arn.rsplit("/", 1)[-1]
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": f"{service}.amazonaws.com"},
        "Action": "sts:AssumeRole"}]}  # fmt: skip
    try:
        iam.get_role(RoleName=name)
    except iam.exceptions.NoSuchEntityException:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
