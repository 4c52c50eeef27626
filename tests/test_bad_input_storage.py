"""Bad input for object storage (--output / BENCH_CACHE as URLs), as in tests/test_bad_input.py: one line on
stderr, exit code 2, no traceback, nothing in the workspace changed, nothing written to the bucket. The S3 server
is moto's, in this process (tests/object_store.py); `{bucket}` is a bucket that exists, `{ws}` the workspace."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from object_store import S3, start
from reliability_workspace import make_workspace

HINT = ("check the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE) and the endpoint "
        "(AWS_ENDPOINT_URL or FSSPEC_S3_ENDPOINT_URL)")
NO_BUCKET = "bucket 'no-such-bucket' does not exist; create it, or check the endpoint (AWS_ENDPOINT_URL or " \
            "FSSPEC_S3_ENDPOINT_URL)"
NO_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": ""}


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    message: str
    env: dict[str, str] = field(default_factory=dict)
    run: bool = True
    """True: args are added to `bench run` on the char upstream and the mini suite of the workspace."""
    python: str = ""
    """Run `bench` through `python -c` with this statement first (to hide an installed package)."""


CASES = [
    Case("output-bucket-missing", ("--output", "s3://no-such-bucket/run"),
         f"error: cannot use --output s3://no-such-bucket/run: {NO_BUCKET}"),
    Case("output-no-credentials", ("--output", "s3://{bucket}/run"),
         f"error: cannot use --output s3://{{bucket}}/run: NoCredentialsError: Unable to locate credentials; {HINT}",
         env=NO_CREDENTIALS),
    Case("output-no-bucket-in-url", ("--output", "s3://"),
         "error: Invalid value for '--output' / '-o': s3:// names no bucket; give s3://BUCKET/PREFIX (see "
         "'bench run --help')"),
    Case("output-s3fs-missing", ("--output", "s3://{bucket}/run"),
         "error: install s3fs: pip install 'encoder-bench[s3]'", python="sys.modules['s3fs'] = None"),
    Case("cache-bucket-missing", (), f"error: cannot use the feature cache at s3://no-such-bucket/cache: {NO_BUCKET}",
         env={"BENCH_CACHE": "s3://no-such-bucket/cache"}),
    Case("cache-no-credentials", (),
         f"error: cannot use the feature cache at s3://{{bucket}}/cache: NoCredentialsError: Unable to locate "
         f"credentials; {HINT}", env={"BENCH_CACHE": "s3://{bucket}/cache", **NO_CREDENTIALS}),
    Case("report-bucket-missing", ("report", "--output", "s3://no-such-bucket/run"),
         f"error: cannot read results at s3://no-such-bucket/run: {NO_BUCKET}", run=False),
    Case("report-no-credentials", ("report", "--output", "s3://{bucket}/run"),
         f"error: cannot read results at s3://{{bucket}}/run: NoCredentialsError: Unable to locate credentials; {HINT}",
         env=NO_CREDENTIALS, run=False),
    Case("export-bucket-missing", ("export", "glue-submission", "--output", "s3://no-such-bucket/run", "--to", "{ws}/sub"),
         f"error: cannot read results at s3://no-such-bucket/run: {NO_BUCKET}", run=False),
]


@pytest.fixture(scope="module")
def s3() -> S3:
    server = start()
    yield server
    server.server.stop()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_storage_input(case: Case, s3: S3, tmp_path: Path) -> None:
    import subprocess
    import sys

    ws = make_workspace(tmp_path)
    bucket = s3.bucket()

    def fill(text: str) -> str:
        return text.replace("{ws}", str(ws.root)).replace("{bucket}", bucket)

    before = ws.snapshot()
    args = [fill(a) for a in case.args]
    argv = ws.run_args(*args) if case.run else args
    env = ws.env(**s3.env(**{k: fill(v) for k, v in case.env.items()}))
    if case.python:
        code = f"import sys; {case.python}; sys.argv = ['bench', *sys.argv[1:]]; from benchmark.cli import main; main()"
        cmd = [sys.executable, "-c", code, *argv]
    else:
        cmd = [sys.executable, "-m", "benchmark", *argv]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ws.root, timeout=300)
    assert "Traceback" not in r.stderr + r.stdout
    assert r.stderr.strip() == fill(case.message), r.stderr
    assert r.returncode == 2
    after = ws.snapshot()
    assert after == before, "a failed command changed the workspace"
    assert s3.objects(bucket) == {}, "a failed command wrote to the bucket"
