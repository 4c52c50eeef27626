"""A local S3 server for the object-storage tests: moto's server mode in this process, on a free port, with fake
credentials. `bench` subprocesses reach it through the standard AWS variables (AWS_ENDPOINT_URL: botocore reads
it, so s3fs does), as a user would point bench at MinIO or another S3-compatible store."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

import pytest


@dataclass
class S3:
    endpoint: str
    server: Any

    def env(self, **extra: str) -> dict[str, str]:
        """What a `bench` subprocess needs to use this server (and nothing that could reach a real account)."""
        return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": self.endpoint,
                "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/dev/null",
                "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", **extra}

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id="testing",
                            aws_secret_access_key="testing", region_name="us-east-1")

    def bucket(self) -> str:
        """A new, empty bucket (each test its own)."""
        name = f"bench-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def fs(self) -> Any:
        import s3fs

        return s3fs.S3FileSystem(key="testing", secret="testing", client_kwargs={"endpoint_url": self.endpoint},
                                 use_listings_cache=False, skip_instance_cache=True)

    def objects(self, bucket: str, prefix: str = "") -> dict[str, bytes]:
        """Every object under bucket/prefix (relative key -> body)."""
        fs = self.fs()
        root = f"{bucket}/{prefix}".rstrip("/")
        try:
            keys = fs.find(root)
        except FileNotFoundError:
            return {}
        return {k[len(root) + 1:]: fs.cat_file(k) for k in keys}


def start() -> S3:
    pytest.importorskip("s3fs", reason="the object-storage tests need s3fs (pip install 'encoder-bench[test]')")
    server_mod = pytest.importorskip("moto.server", reason="the object-storage tests need moto[server]")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return S3(f"http://{host}:{port}", server)
