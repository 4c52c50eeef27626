"""Results and the feature cache on object storage (--output s3://..., BENCH_CACHE=s3://...), against a local S3
server (moto's server mode, tests/object_store.py): the same results as a local run, resume from the bucket,
one PUT per result, leases that let exactly one process in, SIGKILL + rerun, and a Ray run whose workers share
nothing but the bucket."""

from __future__ import annotations

import json
import random
import re
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from object_store import S3, start
from reliability_workspace import Workspace, make_workspace

from benchmark.errors import BenchError
from benchmark.storage import Leases, ObjectClaims, ObjectPath, location


@pytest.fixture(scope="module")
def s3() -> S3:
    server = start()
    yield server
    server.server.stop()


def _calls(path: Path) -> int:
    """Inputs the `char` upstream embedded (BENCH_TEST_CALLS), over every process of the test."""
    return sum(int(line.split()[1]) for line in path.read_text().splitlines()) if path.exists() else 0


def _by_job(results: dict[str, bytes]) -> dict[tuple[str, int], tuple]:
    """(task, seed) -> (scores, predictions) of the mini tasks' results (bucket objects or local files); every
    one is whole JSON, named as bench names result files."""
    out = {}
    for name, body in results.items():
        if "/" in name or not name.startswith("mini-") or not name.endswith(".json") or name.endswith(".failed.json"):
            continue
        data = json.loads(body)
        assert re.fullmatch(rf"{data['task']}__char__seed{data['seed']}__{data['job_id']}\.json", name), name
        out[(data["task"], data["seed"])] = (data["scores"], data["predictions"])
    return out


def _local(ws: Workspace) -> dict[str, tuple]:
    return _by_job({p.name: p.read_bytes() for p in ws.out.glob("mini-*.json")})


def _done_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if re.match(r"\[\d+/\d+\] char · mini-\S+ · seed \d+: \d", line)]


@dataclass(frozen=True)
class Reference:
    results: dict[tuple[str, int], tuple]
    inputs: int  # the inputs a local run embeds (distinct ones, each once)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """A local run of seeds 0-2 (local output, local cache): what every object-storage run must reproduce."""
    root = tmp_path_factory.mktemp("local")
    ws = make_workspace(root / "ws", n=240)
    r = ws.bench(*ws.run_args("--seeds", "0,1,2", "-q"), env={"BENCH_TEST_CALLS": str(root / "calls")})
    assert r.returncode == 0, r.stderr
    found = _local(ws)
    assert len(found) == 6
    ref = Reference(found, _calls(root / "calls"))
    assert ref.inputs > 300
    return ref


def test_a_run_into_a_bucket_matches_a_local_run_resumes_and_caches_features_there(
        s3: S3, tmp_path: Path, reference: Reference) -> None:
    ws = make_workspace(tmp_path, n=240)
    bucket = s3.bucket()
    calls = tmp_path / "calls"
    env = s3.env(BENCH_CACHE=f"s3://{bucket}/cache", BENCH_TEST_CALLS=str(calls))
    url = f"s3://{bucket}/run"
    args = [a if a != str(ws.out) else url for a in ws.run_args()]

    r = ws.bench(*args, "--seeds", "0,1", "-q", env=env)
    assert r.returncode == 0, r.stderr
    run = _by_job(s3.objects(bucket, "run"))
    assert run == {k: v for k, v in reference.results.items() if k[1] != 2}  # same names, scores, predictions
    assert _calls(calls) == reference.inputs  # every split embedded once, by this run
    entries = {k.split("/")[1] for k in s3.objects(bucket, "cache") if k.endswith("/meta.json")}
    assert len(entries) >= 4 and all((f"features/{e}/features.npy") in s3.objects(bucket, "cache") for e in entries)
    assert not list(ws.cache.glob("features/*")), "features went to the bucket, not the local cache"
    assert not (ws.root / "s3:").exists()

    # The rerun skips the finished jobs found in the bucket; seed 2's jobs read their features from the bucket
    # (a fresh process: its local staging folder is a new, empty temporary folder).
    r = ws.bench(*args, "--seeds", "0,1,2", env=env)
    assert r.returncode == 0, r.stderr
    assert "4 of 6 jobs already finished in " + url in r.stderr
    assert _calls(calls) == reference.inputs  # no forward pass: every entry came from the bucket
    assert _by_job(s3.objects(bucket, "run")) == reference.results
    assert not any(k.startswith(".locks/") for k in s3.objects(bucket, "run")), "every lease was released"

    # `bench report` reads the bucket: each task's metrics are the means over the local run's three seeds
    board = ws.bench("report", "--output", url, "--format", "json", "--tasks-file", str(ws.tasks), env=env)
    assert board.returncode == 0, board.stderr
    [row] = [r for r in json.loads(board.stdout)["rows"] if r["upstream"] == "char"]
    for task in ("mini-sent", "mini-reg"):
        assert row["tasks"][task]["seeds"] == [0, 1, 2]
        for metric, value in row["tasks"][task]["metrics"].items():
            expected = statistics.mean(reference.results[(task, s)][0][metric] for s in (0, 1, 2))
            assert value["mean"] == pytest.approx(expected, abs=1e-3)


def test_a_result_is_one_put_and_a_failed_put_leaves_the_old_object(s3: S3, monkeypatch) -> None:
    from benchmark.engine import results

    for k, v in s3.env().items():
        monkeypatch.setenv(k, v)
    bucket = s3.bucket()
    path = location(f"s3://{bucket}/run/r.json")
    assert isinstance(path, ObjectPath)
    results.write_text_atomic(path, '{"v": 1}\n')
    puts: list[int] = []
    real = path.fs.pipe_file

    def counted(key: str, data: bytes, **kw: object) -> object:
        puts.append(len(data))
        return real(key, data, **kw)

    monkeypatch.setattr(path.fs, "pipe_file", counted)
    results.write_text_atomic(path, '{"v": 2}\n')
    assert puts == [9] and path.read_text() == '{"v": 2}\n'  # the whole body, in one request

    def broken(key: str, data: bytes, **kw: object) -> object:
        raise PermissionError("Access Denied")

    monkeypatch.setattr(path.fs, "pipe_file", broken)
    with pytest.raises(BenchError, match=r"^cannot write s3://.*/run/r\.json: PermissionError: Access Denied; "
                                         r"nothing was replaced"):
        results.write_text_atomic(path, '{"v": 3}\n')
    assert path.read_text() == '{"v": 2}\n'
    # a redone job's old result is kept in .stale/ before the new one replaces it, as locally
    monkeypatch.setattr(path.fs, "pipe_file", real)
    kept = results.keep_aside(path)
    assert str(kept).startswith(f"s3://{bucket}/run/.stale/r.") and kept.read_text() == '{"v": 2}\n'
    assert path.read_text() == '{"v": 2}\n'


class _Job:
    def __init__(self, job_id: str) -> None:
        self.job_id = job_id


def test_leases_let_exactly_one_process_in_and_expire_when_the_holder_dies(s3: S3, monkeypatch) -> None:
    for k, v in s3.env().items():
        monkeypatch.setenv(k, v)
    out = location(f"s3://{s3.bucket()}/run")
    a, b = ObjectClaims(out), ObjectClaims(out)
    job = _Job("0123abcd")
    assert a.try_claim(job) and not b.try_claim(job)
    a.release(job)
    assert b.try_claim(job) and not a.try_claim(job)
    a.close()
    b.close()

    # Eight takers race for one free name: exactly one wins (conditional create, If-None-Match: *).
    racers = [Leases(out / ".locks", ttl=30) for _ in range(8)]
    go = threading.Barrier(len(racers))
    won: list[bool] = [False] * len(racers)

    def race(i: int) -> None:
        go.wait()
        won[i] = racers[i].try_acquire("contended")

    threads = [threading.Thread(target=race, args=(i,)) for i in range(len(racers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(won) == 1

    # A holder that dies (no heartbeat, no release) blocks others until its lease expires; then one taker gets
    # it, again exactly one of several, by creating the next generation.
    dead = Leases(out / ".locks", ttl=30)
    assert dead.try_acquire("dies")
    dead._stop.set()  # as after a SIGKILL: nothing renews it any more
    [lease] = dead._held.values()
    dead._held.clear()
    takers = [Leases(out / ".locks", ttl=30) for _ in range(4)]
    assert not any(t.try_acquire("dies") for t in takers)
    lease.write_bytes(json.dumps({"owner": "killed", "expires": time.time() - 1}).encode())  # its time is up
    assert [t.try_acquire("dies") for t in takers].count(True) == 1
    assert sorted(p.name for p in (out / ".locks").glob("dies.*")) == ["dies.2.lease"]  # the expired one is gone

    # A live holder's heartbeat pushes its lease's expiry on (every third of the lease), so it outlives its
    # duration; a release deletes it and frees the name at once.
    live = Leases(out / ".locks", ttl=1.5)
    assert live.try_acquire("renewed")
    [lease] = live._held.values()
    first = json.loads(lease.read_bytes())["expires"]
    deadline = time.monotonic() + 60  # (polled: a loaded machine may be slow to run the heartbeat)
    while json.loads(lease.read_bytes())["expires"] <= first and time.monotonic() < deadline:
        time.sleep(0.2)
    assert json.loads(lease.read_bytes())["expires"] > first
    live.close()
    last = Leases(out / ".locks", ttl=30)
    assert last.try_acquire("renewed")
    for leases in (*racers, *takers, last):  # their heartbeats would outlive the S3 server and warn for the session
        leases.close()


def test_file_urls_are_local_paths_and_other_urls_object_paths() -> None:
    assert location("file:///tmp/run") == Path("/tmp/run")
    assert location("results/today") == Path("results/today")
    p = location("s3://bucket/a/run/")
    assert isinstance(p, ObjectPath) and str(p) == "s3://bucket/a/run" and p.bucket == "bucket"
    assert str(p / "x.json") == "s3://bucket/a/run/x.json" and (p / "x.json").with_name("y").name == "y"
    with pytest.raises(BenchError, match=r"^s3:// names no bucket; give s3://BUCKET/PREFIX$"):
        location("s3://")


@pytest.mark.slow
def test_sigkill_then_rerun_resumes_from_the_bucket(s3: S3, tmp_path: Path, reference: Reference) -> None:
    ws = make_workspace(tmp_path, n=240)
    bucket = s3.bucket()
    url = f"s3://{bucket}/run"
    # Short leases: a killed run's claims and cache-key leases free their jobs 2 s after the kill.
    env = s3.env(BENCH_CACHE=f"s3://{bucket}/cache", BENCH_LEASE_SECONDS="2")
    args = [a if a != str(ws.out) else url for a in ws.run_args("--seeds", "0,1,2", "-q")]
    rng = random.Random(7)
    kills = 0
    for _ in range(8):
        proc = ws.popen(*args, env={**env, "BENCH_TEST_DELAY": "0.3"})  # kills land in extraction and training
        time.sleep(rng.uniform(3.0, 7.0))
        if proc.poll() is None:
            proc.kill()
            kills += 1
        proc.communicate(timeout=60)
        found = _by_job(s3.objects(bucket, "run"))  # every result object there is whole (json.loads succeeds)
        assert all(reference.results[k] == v for k, v in found.items())
        if len(found) == 6:
            break
    assert kills >= 2, "the kills must interrupt runs (make the jobs slower if this fails)"
    before = len(_by_job(s3.objects(bucket, "run")))
    r = ws.bench(*[a for a in args if a != "-q"], env=env)
    assert r.returncode == 0, r.stderr
    assert len(_done_lines(r.stderr)) == 6 - before  # each job trained to the end once: only the missing ones ran
    if before:
        assert f"{before} of 6 jobs already finished in {url}" in r.stderr
    assert _by_job(s3.objects(bucket, "run")) == reference.results  # no partial feature entry or result was trusted


@pytest.mark.slow
def test_a_ray_run_whose_workers_share_only_the_bucket_gives_the_local_results(
        s3: S3, tmp_path: Path, reference: Reference) -> None:
    pytest.importorskip("ray")
    ws = make_workspace(tmp_path, n=240)
    bucket = s3.bucket()
    url = f"s3://{bucket}/run"
    calls = tmp_path / "calls"
    home = tmp_path / "home"
    home.mkdir()
    # No local output and no local feature cache: each worker stages the entries it reads in a temporary folder
    # of its own, so what one worker computed reaches another only through the bucket.
    env = s3.env(BENCH_CACHE=f"s3://{bucket}/cache", BENCH_TEST_CALLS=str(calls), HOME=str(home),
                 RAY_ADDRESS="")
    args = [a if a != str(ws.out) else url for a in ws.run_args("--seeds", "0,1,2", "--executor", "ray")]
    r = ws.bench(*args, env=env, timeout=900)  # (Ray starts slowly on a loaded 2-core machine)
    assert r.returncode == 0, r.stderr
    assert len(_done_lines(r.stderr)) == 6
    assert _by_job(s3.objects(bucket, "run")) == reference.results
    assert _calls(calls) == reference.inputs  # each split embedded once over all workers: the others read the bucket
    assert not list(tmp_path.rglob("features.npy")) and not list(ws.out.glob("mini-*"))
    again = ws.bench(*args, env=env, timeout=600)
    assert again.returncode == 0 and "6 of 6 jobs already finished in " + url in again.stderr


def test_analysis_records_and_failure_records_live_in_the_bucket_too(s3: S3, monkeypatch) -> None:
    from benchmark.analysis import records
    from benchmark.engine import results

    for k, v in s3.env().items():
        monkeypatch.setenv(k, v)
    out = location(f"s3://{s3.bucket()}/run")
    record = records.Analysis("similarity", "char", {"fingerprint": "f"}, {"words": ["a"]}, {"layers": [0.5]})
    path = records.save(out, record)
    assert str(path).startswith(f"{out}/analyses/similarity__char__")
    [back] = records.load_all(out)
    assert back.data == {"layers": [0.5]} and back.analysis_id
    result_file = results.result_path(out, "mini-sent", "char", 0, "0123abcd")
    results.save_failure(result_file, {"status": "failed", "reason": "out of memory", "job_id": "0123abcd"})
    assert str(results.failure_path(result_file)).endswith("mini-sent__char__seed0__0123abcd.failed.json")
    assert [r["reason"] for r in results.load_failures(out)] == ["out of memory"]
    assert results.load_all(out) == []  # a failure record is never read as a result
