"""A real S3-compatible server for the media store's tests: moto's server in a process of its
own on a free loopback port, spoken to over HTTP, checking every request's SigV4 signature
against an access key made in its IAM (requests signed with any other secret are refused)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.session
import httpx

from db.media import S3Location

REGION = "us-east-1"
_ALLOW_ALL = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:*", "iam:*"], "Resource": "*"}]})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class S3Server:
    """A running server: its endpoint and the one access key it accepts."""

    endpoint: str
    access_key_id: str
    secret_access_key: str
    process: subprocess.Popen[bytes]

    def client(self, secret_access_key: str | None = None) -> Any:
        """A botocore S3 client of the server (path-style), for setting up and looking."""
        return botocore.session.Session().create_client(
            "s3", region_name=REGION, endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=secret_access_key or self.secret_access_key)

    def key_denied_writes(self, bucket: str, keys: list[str]) -> tuple[str, str]:
        """A new access key (id, secret) that may do anything in S3 but write those keys."""
        iam = botocore.session.Session().create_client(
            "iam", region_name=REGION, endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key_id, aws_secret_access_key=self.secret_access_key)
        user = f"writer-{len(keys)}-{abs(hash(tuple(keys)))}"
        iam.create_user(UserName=user)
        iam.put_user_policy(UserName=user, PolicyName="some", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                {"Effect": "Deny", "Action": "s3:PutObject",
                 "Resource": [f"arn:aws:s3:::{bucket}/{key}" for key in keys]}]}))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        return key["AccessKeyId"], key["SecretAccessKey"]

    def location(self, bucket: str, **options: Any) -> S3Location:
        defaults = {"endpoint_url": self.endpoint, "addressing": "path"}
        return S3Location(bucket=bucket, region=REGION, access_key_id=self.access_key_id,
                          secret_access_key=self.secret_access_key, **{**defaults, **options})

    def bucket(self, name: str, *, versioned: bool = False) -> str:
        """A new bucket (with versioning on, every write of a key is a version of its own)."""
        s3 = self.client()
        s3.create_bucket(Bucket=name)
        if versioned:
            s3.put_bucket_versioning(Bucket=name,
                                     VersioningConfiguration={"Status": "Enabled"})
        return name

    def stop(self) -> None:
        _stop(self.process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stops the server by its process id."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(endpoint: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{endpoint}/moto-api/data.json", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("moto_server did not start within 30 s")


@contextmanager
def s3_server(workdir: Path) -> Iterator[S3Server]:
    """Starts moto's server, makes an IAM user allowed everything with an access key, and then
    turns authentication on; stops the server afterwards."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = workdir / f"moto-{port}.log"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "setup", "AWS_SECRET_ACCESS_KEY": "setup"}
    env.pop("INITIAL_NO_AUTH_ACTION_COUNT", None)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p",
             str(port)], stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        _wait_until_up(endpoint, process, log)
        iam = botocore.session.Session().create_client(
            "iam", region_name=REGION, endpoint_url=endpoint, aws_access_key_id="setup",
            aws_secret_access_key="setup")
        iam.create_user(UserName="redgrid")
        iam.put_user_policy(UserName="redgrid", PolicyName="all", PolicyDocument=_ALLOW_ALL)
        key = iam.create_access_key(UserName="redgrid")["AccessKey"]
        # From here on every request must be signed with that key's secret.
        httpx.post(f"{endpoint}/moto-api/reset-auth", content=b"0",
                   headers={"Content-Type": "text/plain"}).raise_for_status()
        yield S3Server(endpoint, key["AccessKeyId"], key["SecretAccessKey"], process)
    finally:
        _stop(process)
