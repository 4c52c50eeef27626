"""Results know their inputs (issue 22 items 1 and 12): a finished job whose data, task definition or upstream
weights changed is redone with one warning line, its old result kept aside; results without recorded inputs are
unknown, never stale; two runs into one output train each job once. Every case runs the real command."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from benchmark.engine import results
from benchmark.engine.inputs import changes, task_digest
from tests.reliability_workspace import Workspace, make_workspace, sentiment_rows, tsv

SENT = "mini-sent"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return make_workspace(tmp_path / "ws")


def sent_results(ws: Workspace) -> list[Path]:
    return sorted(ws.out.glob(f"{SENT}__char__seed*.json"))


def first_run(ws: Workspace, *extra: str) -> dict:
    r = ws.bench(*ws.run_args("--tasks", SENT, *extra))
    assert r.returncode == 0, r.stderr
    [path] = sent_results(ws)
    return json.loads(path.read_text(encoding="utf-8"))


def test_a_result_records_the_digests_of_what_produced_it(ws: Workspace) -> None:
    data = first_run(ws)
    inputs = data["inputs"]
    assert inputs["upstream"] == data["upstream_info"]["fingerprint"]
    assert inputs["data"] == data["task_info"]["data_revision"]  # the digest of the two files read
    assert re.fullmatch(r"sha256:[0-9a-f]{16}", inputs["task"])
    assert results.read_result(sent_results(ws)[0])[0] is not None  # the checksum covers them


def test_flipped_labels_make_the_job_stale_it_is_redone_and_the_old_result_kept(ws: Workspace) -> None:
    before = first_run(ws)
    [path] = sent_results(ws)
    old_bytes = path.read_bytes()
    flipped = [[text, str(1 - int(label))] for text, label in sentiment_rows(20)]
    tsv(ws.data / "SENT" / "dev.tsv", ["sentence", "label"], flipped)
    r = ws.bench(*ws.run_args("--tasks", SENT))
    assert r.returncode == 0, r.stderr
    stale = results.stale_dir(ws.out)
    warnings = [line for line in r.stderr.splitlines() if "redone" in line]
    assert warnings == [f"WARNING benchmark.engine.runner: 1 finished job is redone: the data of task '{SENT}' "
                        f"changed since it ran; the old result file is kept in {stale}"]
    assert "already finished" not in r.stderr
    [new_path] = sent_results(ws)
    assert new_path.name == path.name  # same job id, same file name
    after = json.loads(new_path.read_text(encoding="utf-8"))
    assert after["inputs"]["data"] != before["inputs"]["data"]
    assert after["main_score"] == pytest.approx(100 - before["main_score"], abs=0.01)  # every label flipped
    [kept] = stale.glob("*.json")
    assert kept.read_bytes() == old_bytes and kept.name.startswith(path.name[:-5] + ".")
    again = ws.bench(*ws.run_args("--tasks", SENT))  # now nothing changed: finished
    assert "1 of 1 jobs already finished" in again.stderr and "redone" not in again.stderr


def test_a_changed_task_definition_is_stale_a_changed_description_is_not(ws: Workspace) -> None:
    first_run(ws)
    text = ws.tasks.read_text(encoding="utf-8")
    ws.tasks.write_text(text.replace("is the snippet positive?", "does the reviewer like it?"), encoding="utf-8")
    r = ws.bench(*ws.run_args("--tasks", SENT))
    assert "1 of 1 jobs already finished" in r.stderr and "redone" not in r.stderr
    ws.tasks.write_text(text.replace("labels: ['0', '1']\n    metrics: [accuracy]",
                                     "labels: ['0', '1']\n    metrics: [accuracy, f1]"), encoding="utf-8")
    r = ws.bench(*ws.run_args("--tasks", SENT))
    assert r.returncode == 0, r.stderr
    assert f"1 finished job is redone: the definition of task '{SENT}' changed since it ran" in r.stderr
    [path] = sent_results(ws)
    assert set(json.loads(path.read_text(encoding="utf-8"))["scores"]) == {"accuracy", "f1"}


def test_results_without_recorded_inputs_are_unknown_not_stale(ws: Workspace) -> None:
    """Results written before inputs were recorded (all of leaderboard/) keep counting as finished."""
    first_run(ws)
    [path] = sent_results(ws)
    data = json.loads(path.read_text(encoding="utf-8"))
    del data["inputs"], data["checksum"]
    path.write_text(json.dumps(data), encoding="utf-8")
    tsv(ws.data / "SENT" / "dev.tsv", ["sentence", "label"], sentiment_rows(21))
    r = ws.bench(*ws.run_args("--tasks", SENT))
    assert "1 of 1 jobs already finished" in r.stderr and "redone" not in r.stderr
    assert not results.stale_dir(ws.out).exists()


def test_a_file_failing_the_schema_at_a_jobs_path_is_redone_not_counted_as_finished(ws: Workspace) -> None:
    first_run(ws)
    [path] = sent_results(ws)
    path.write_text('{"upstream": "char", "main_score": "high"}', encoding="utf-8")
    r = ws.bench(*ws.run_args("--tasks", SENT))
    assert r.returncode == 0, r.stderr
    assert "1 finished job is redone: its result file fails the result schema (task: Field required" in r.stderr
    assert results.read_result(path)[0] is not None
    [kept] = results.stale_dir(ws.out).glob("*.json")
    assert kept.read_text(encoding="utf-8") == '{"upstream": "char", "main_score": "high"}'


@pytest.mark.slow
def test_other_weights_in_a_model_directory_make_its_jobs_stale(ws: Workspace, tiny_bert_dir: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    model = ws.root / "model"
    shutil.copytree(tiny_bert_dir, model)
    args = ws.run_args("--tasks", SENT, "--epochs", "2")
    args[args.index("char")] = f"bert:{model}"
    r = ws.bench(*args)
    assert r.returncode == 0, r.stderr
    weights = load_file(model / "model.safetensors")
    save_file({k: v + 0.5 * torch.randn_like(v) if v.is_floating_point() else v for k, v in weights.items()},
              model / "model.safetensors", metadata={"format": "pt"})
    r = ws.bench(*args)
    assert r.returncode == 0, r.stderr
    assert f"1 finished job is redone: the weights of upstream 'bert:{model}' changed since it ran" in r.stderr


def test_task_digest_ignores_fields_a_later_bench_adds_at_their_default(registry) -> None:
    task = registry.tasks.get("vader-polarity").obj
    same = task.model_copy(update={"description": "other words", "citation": "someone"})
    assert task_digest(same) == task_digest(task)
    assert task_digest(task.model_copy(update={"labels": ["neg", "pos", "other"]})) != task_digest(task)



def test_a_measured_scale_point_leaves_results_fresh_a_human_reference_does_not(registry) -> None:
    """A task's fbank point is measured from the run whose results it must not make stale; the human reference is
    stored in every result (relative_to_human), so moving it does."""
    task = registry.tasks.get("synth-ks").obj
    refs = task.references
    moved = task.model_copy(update={"references": {**refs, "fbank": refs["fbank"].model_copy(
        update={"scores": {"accuracy": 12.5}})}})
    assert task_digest(moved) == task_digest(task)
    sst2 = registry.tasks.get("sst2").obj
    human = sst2.references["human"]
    assert task_digest(sst2.model_copy(update={"references": {
        **sst2.references, "human": human.model_copy(update={"scores": {"accuracy": 90.0}})}})) != task_digest(sst2)
    # a result recorded before the rule (references in its digest) still matches the task it ran
    job = SimpleNamespace(task=task, transfer=(), upstream=SimpleNamespace(text="fbank"))
    now = {"task": task_digest(task)}
    assert task_digest(task, legacy=True) != now["task"]
    assert changes({"task": task_digest(task, legacy=True)}, now, job) == []
    assert changes({"task": task_digest(moved, legacy=True)}, now, job) == ["the definition of task 'synth-ks'"]

@pytest.mark.slow
def test_two_runs_into_one_output_train_each_job_once(ws: Workspace) -> None:
    """Both runs end with every result; each job is trained by one of them (the other reads its result)."""
    args = ws.run_args("--seeds", "0,1")
    env = {"BENCH_TEST_DELAY": "0.3"}
    a = ws.popen(*args, env=env)
    time.sleep(1.0)
    b = ws.popen(*args, env=env)
    outs = [p.communicate(timeout=600) for p in (a, b)]
    assert [p.returncode for p in (a, b)] == [0, 0], [o[1][-2000:] for o in outs]
    done = [m for _, err in outs for m in re.finditer(r"(char · mini-\w+ · seed \d): (\d+\.\d\d.*)", err)]
    trained = [m[1] for m in done if "finished by another run" not in m[2]]
    read_back = [m[1] for m in done if "finished by another run" in m[2]]
    jobs = {f"char · {t} · seed {s}" for t in ("mini-sent", "mini-reg") for s in (0, 1)}
    assert sorted(trained) == sorted(jobs)  # each of the four jobs trained exactly once
    assert set(read_back) <= jobs
    assert len(list(ws.out.glob("mini-*__char__seed*.json"))) == 4
    assert not results.stale_dir(ws.out).exists()


@pytest.mark.slow
def test_a_run_waits_for_a_killed_claim_holder_and_then_runs_the_job_itself(ws: Workspace) -> None:
    args = ws.run_args("--tasks", SENT)
    holder = ws.popen(*args, env={"BENCH_TEST_DELAY": "5"})
    lock_dir = ws.out / ".locks"
    deadline = time.time() + 120
    while not (lock_dir.is_dir() and any(lock_dir.iterdir())) and time.time() < deadline:
        time.sleep(0.2)
    waiter = ws.popen(*args)
    time.sleep(2.0)
    holder.kill()  # SIGKILL: the kernel drops its lock
    holder.communicate()
    out, err = waiter.communicate(timeout=600)
    assert waiter.returncode == 0, err
    [line] = re.findall(r"char · mini-sent · seed 0: \d+\.\d\d.*", err)
    assert "finished by another run" not in line  # trained here, not read back
    assert len(sent_results(ws)) == 1
