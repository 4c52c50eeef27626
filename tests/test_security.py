"""No code the user didn't choose: pickled checkpoints that would run code, Hub-style remote code, YAML tags and
task files cannot make bench execute anything. (The HTML report's escaping is tested in a browser in
test_html_report.py.)"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from reliability_workspace import make_workspace

from benchmark.errors import BenchError
from benchmark.tasks.schema import parse_task_text


def _model(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest


def test_a_pickle_checkpoint_that_would_run_code_is_refused(tmp_path: Path, tiny_bert_dir: Path) -> None:
    import torch

    model = _model(tiny_bert_dir, tmp_path / "model")
    marker = tmp_path / "PWNED"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    from safetensors.torch import load_file

    state = load_file(model / "model.safetensors")
    (model / "model.safetensors").unlink()
    torch.save({**state, "payload": Payload()}, model / "pytorch_model.bin")
    ws = make_workspace(tmp_path / "ws")
    before = ws.snapshot()
    r = ws.bench(*ws.run_args("--upstream", f"bert:{model}", "--tasks", "mini-sent"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == (f"error: cannot load text model '{model}': refused: its weights are a pickle that "
                                "would run code (posix.system), and bench unpickles only plain tensors "
                                "(torch.load(weights_only=True)); use a safetensors checkpoint")
    assert not marker.exists(), "the payload ran"
    assert all(ws.snapshot().get(k) == v for k, v in before.items())


def test_remote_code_runs_only_with_the_flag(tmp_path: Path, tiny_bert_dir: Path) -> None:
    model = _model(tiny_bert_dir, tmp_path / "model")
    ran = tmp_path / "RAN"
    config = json.loads((model / "config.json").read_text())
    config.update(model_type="custom-bert", auto_map={"AutoConfig": "custom.CustomConfig",
                                                      "AutoModel": "custom.CustomModel"},
                  architectures=["CustomModel"])
    (model / "config.json").write_text(json.dumps(config))
    (model / "custom.py").write_text(
        "import pathlib\n"
        f"pathlib.Path({str(ran)!r}).touch()\n"
        "from transformers import BertConfig, BertModel\n"
        "class CustomConfig(BertConfig):\n    model_type = 'custom-bert'\n"
        "class CustomModel(BertModel):\n    config_class = CustomConfig\n")
    ws = make_workspace(tmp_path / "ws")
    args = ws.run_args("--upstream", f"bert:{model}", "--tasks", "mini-sent", "--epochs", "2", "-q")
    r = ws.bench(*args)
    assert r.returncode == 2
    assert r.stderr.strip() == (f"error: cannot load text model '{model}': it needs to run its own Python code "
                                "(auto_map in config.json); read that code, then pass --trust-remote-code if you "
                                "trust it")
    assert not ran.exists(), "remote code ran without --trust-remote-code"
    r = ws.bench(*args, "--trust-remote-code")
    assert r.returncode == 0, r.stderr
    assert ran.exists()  # the user chose to run it


@pytest.mark.parametrize("yaml_text", [
    "schema: 1\ntasks: !!python/object/apply:os.system ['touch {marker}']\n",
    "schema: 1\ntasks:\n  x: !!python/name:os.system\n",
    "schema: 1\ntasks: !!binary aGVsbG8=\n",
])
def test_yaml_tags_that_construct_objects_are_refused(yaml_text: str, tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    with pytest.raises(BenchError, match=r"^t\.yaml: (invalid YAML: line \d+: could not determine a constructor|"
                                         r"tasks: Input should be a valid dictionary)"):
        parse_task_text(yaml_text.format(marker=marker), "t.yaml")
    assert not marker.exists()


def test_a_task_file_cannot_name_code_to_import(registry) -> None:
    """The schema has no field that takes a module or callable: data loaders, heads and metrics are looked up by
    name among what installed plugins registered."""
    from benchmark.tasks.schema import TaskSpec

    def names(model) -> set[str]:
        out = set()
        for name, f in model.model_fields.items():
            out.add(name)
            ann = f.annotation
            for sub in getattr(ann, "__args__", ()) or (ann,):
                if hasattr(sub, "model_fields"):
                    out |= names(sub)
        return out

    fields = names(TaskSpec)
    # (class_weights is a loss weighting, not a class to import: "class" alone or with _name / _path is flagged)
    assert not {f for f in fields if re.search(r"module|import|callable|function|class_?(name|path)?$|code|^eval$|exec", f)}
    text = ("schema: 1\ntasks:\n  t:\n    description: d\n    version: 1\n    modality: text\n    head: classification\n"
            "    labels: ['a']\n    metrics: [accuracy]\n    score: [accuracy]\n    evals: [dev]\n"
            "    sources: {recipe: {name: os.system}}\n")
    [task], _ = parse_task_text(text, "t.yaml")
    assert task.sources.recipe.name == "os.system"  # a name, not an import: the registry does not know it
    registry.tasks.add("t", task, "test")
    assert "task 't' uses unknown dataset loader 'os.system'" in registry.check()


def test_auto_map_on_a_builtin_model_type_is_said_in_one_line(tmp_path: Path, tiny_bert_dir: Path) -> None:
    """transformers ignores auto_map when the model type is its own (here 'bert') and trust_remote_code is off:
    the stock model loads and the model's code never runs. bench says so in one line instead of staying silent."""
    model = _model(tiny_bert_dir, tmp_path / "model")
    ran = tmp_path / "RAN"
    config = json.loads((model / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "custom.CustomModel"}
    (model / "config.json").write_text(json.dumps(config))
    (model / "custom.py").write_text(f"import pathlib\npathlib.Path({str(ran)!r}).touch()\n")
    ws = make_workspace(tmp_path / "ws")
    r = ws.bench(*ws.run_args("--upstream", f"bert:{model}", "--tasks", "mini-sent", "--epochs", "2", "-q"))
    assert r.returncode == 0, r.stderr
    said = [line for line in r.stderr.splitlines() if "auto_map" in line]
    assert said == [f"WARNING upstreams.hf_text: model '{model}' ships its own code (auto_map in config.json), but its model type "
                    "'bert' is built into transformers: loading transformers' BertModel instead, without running "
                    "that code; pass --trust-remote-code to use it"]
    assert not ran.exists()
