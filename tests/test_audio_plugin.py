"""The audio-encoders example plugin (examples/bench-audio-encoders): two pretrained speech encoders from PyPI,
`resemblyzer` (a GE2E speaker LSTM) and `crepe` (a pitch CNN), with their weights inside the PyPI wheels.

In-process tests import the plugin from its source tree; the rest pip-install it into a fresh venv (see
plugin_venv.py) and use the venv's own `bench`. Resemblyzer and torchcrepe come from this environment (bench's
`test` extra installs them), so nothing is downloaded. The synth-sid data and the features live in the shared
bench cache (BENCH_CACHE), so only the first run synthesises the speech and runs the encoders.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from plugin_venv import ROOT, import_from_source, make_plugin_venv, run

from benchmark.errors import BenchError

AUDIO = ROOT / "examples" / "bench-audio-encoders"


@pytest.fixture(scope="module")
def plugin() -> Iterator[Any]:
    """The plugin module, imported from its source tree (as BENCH_PLUGINS does while one writes a plugin)."""
    yield from import_from_source(AUDIO / "src", "bench_audio_encoders")


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return make_plugin_venv(tmp_path_factory.mktemp("audio-plugin"), [AUDIO])


# -- in process -------------------------------------------------------------------------------------------


def test_both_upstreams_pass_the_contract(plugin: Any) -> None:
    from benchmark.testing import check_upstream, sample_waveforms

    resemblyzer = plugin.ResemblyzerFactory()(None, name="resemblyzer")
    check_upstream(resemblyzer).raise_for_failures()
    assert (resemblyzer.num_layers, resemblyzer.hidden_size, resemblyzer.downsample_rate) == (4, 256, 160)
    crepe = plugin.CrepeFactory()(None, name="crepe")
    # CREPE costs ~35 M multiply-adds per 10 ms frame: shorter clips (0.1-0.25 s) keep this test quick; the
    # package's own tests (run in the venv below) check it on the standard ones.
    short = [wave[:n] for wave, n in zip(sample_waveforms(), (1600, 4000, 2400))]
    check_upstream(crepe, inputs=short).raise_for_failures()
    assert (crepe.num_layers, crepe.hidden_size, crepe.downsample_rate) == (5, 256, 160)


def test_bad_specs_are_bench_errors(plugin: Any) -> None:
    with pytest.raises(BenchError, match=r"^crepe:huge: unknown model size \(use crepe:tiny or crepe:full\)$"):
        plugin.CrepeFactory().missing("huge")
    with pytest.raises(BenchError, match=r"^resemblyzer\+re-emb: .*; use resemblyzer\+rand$"):
        plugin.ResemblyzerFactory().missing(None, modifiers=("re-emb",))


# -- installed with pip into a fresh venv -----------------------------------------------------------------


def test_bench_lists_both_upstreams(venv: dict[str, Any]) -> None:
    text = run([venv["bench"], "list", "upstreams"], venv["env"], venv["tmp"]).stdout
    assert re.search(r"^resemblyzer\s+\[speech\] Resemblyzer 0\.1\.4 .*\(audio-encoders\)$", text, re.M), text
    assert re.search(r"^crepe\s+\[speech\] CREPE pitch CNN .*\(audio-encoders\)$", text, re.M), text
    data = json.loads(run([venv["bench"], "plugins", "--json"], venv["env"], venv["tmp"]).stdout)
    plugin = next(p for p in data["plugins"] if p["name"] == "audio-encoders")
    assert plugin["registered"] == {"upstreams": ["crepe", "resemblyzer"]}
    assert "bench-audio-encoders 0.1.0" in plugin["source"]
    assert data["failures"] == []


def test_bench_run_refuses_a_bad_spec_in_one_line(venv: dict[str, Any]) -> None:
    import subprocess

    for spec, message in (("crepe:huge", "error: crepe:huge: unknown model size (use crepe:tiny or crepe:full)"),
                          ("resemblyzer:x", "error: upstream 'resemblyzer' takes no argument (got 'resemblyzer:x')")):
        proc = subprocess.run([str(venv["bench"]), "run", "--upstream", spec, "--tasks", "synth-sid",
                               "--output", str(venv["tmp"] / "refused")], env=venv["env"], cwd=venv["tmp"],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip() == message, proc.stderr
        assert not (venv["tmp"] / "refused").exists() or not any((venv["tmp"] / "refused").iterdir())


@pytest.mark.slow
def test_the_packages_own_tests_pass_in_the_venv(venv: dict[str, Any]) -> None:
    package = venv["packages"][AUDIO.name]
    proc = run([venv["python"], "-m", "pytest", "-q", "-p", "no:cacheprovider", package / "tests"], venv["env"],
               package)
    summary = proc.stdout.strip().splitlines()[-1]
    assert re.search(r"^\d+ passed(, \d+ warnings?)? in ", summary), summary  # nothing failed, nothing skipped


@pytest.mark.slow
def test_resemblyzer_beats_its_random_init_on_synth_sid(venv: dict[str, Any]) -> None:
    """Speaker identification among 24 synthetic voices (120 test sentences): the pretrained speaker encoder
    against the same LSTM with random weights. Measured: 78.3 against 45.8 (seed 0)."""
    out = venv["tmp"] / "results"
    run([venv["bench"], "run", "--upstream", "resemblyzer,resemblyzer+rand", "--tasks", "synth-sid", "--seeds", "0",
         "--output", out], venv["env"], venv["tmp"], timeout=1800)
    results = {r["upstream"]: r for r in (json.loads(f.read_text(encoding="utf-8")) for f in out.glob("*.json"))}
    assert set(results) == {"resemblyzer", "resemblyzer+rand"}
    pretrained, rand = results["resemblyzer"], results["resemblyzer+rand"]
    for r in (pretrained, rand):
        assert (r["task"], r["seed"], r["n_examples"]["test"]) == ("synth-sid", 0, 120)
        assert (r["upstream_info"]["num_layers"], r["upstream_info"]["hidden_size"]) == (4, 256)
        assert len(r["layer_weights"]) == 5
    assert pretrained["upstream_info"]["fingerprint"].startswith("resemblyzer==0.1.4:pretrained.pt@")
    assert rand["upstream_info"]["fingerprint"] == pretrained["upstream_info"]["fingerprint"] + "+all@0"
    assert pretrained["main_score"] >= 65.0, pretrained["main_score"]  # chance is 1/24 = 4.2
    assert pretrained["main_score"] - rand["main_score"] >= 20.0, (pretrained["main_score"], rand["main_score"])


def test_the_venv_leaves_the_repository_alone() -> None:
    assert not any(Path(AUDIO).glob("*.egg-info")) and not (AUDIO / "build").exists()
