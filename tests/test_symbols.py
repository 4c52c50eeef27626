"""Symbol tasks (DNA / protein / music as words of a text upstream), the `specific` upstream and loss curves."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import benchmark
from benchmark.engine import runner
from benchmark.errors import BenchError, JobFailed
from benchmark.heads.training import step_curve
from benchmark.tasks import symbols
from benchmark.tasks.schema import SymbolMap, parse_task
from benchmark.types import Examples, TaskData, Unlabeled

needs_hmmer = pytest.mark.skipif(shutil.which("hmmemit") is None or not Path("/usr/share/doc/hmmer/examples").is_dir(),
                                 reason="needs Debian hmmer + hmmer-examples (apt-get install hmmer hmmer-examples)")


def test_split_into_units_and_kmers() -> None:
    assert symbols.split("ACGTA", SymbolMap()) == ["A", "C", "G", "T", "A"]
    assert symbols.split("C4_1 r_2  D4_0.5", SymbolMap(unit="whitespace")) == ["C4_1", "r_2", "D4_0.5"]
    assert symbols.split("ACGTACG", SymbolMap(k=3)) == ["ACG", "TAC", "G"]  # tiled: the short tail is kept
    assert symbols.split("ACGTA", SymbolMap(k=3, stride=1)) == ["ACG", "CGT", "GTA"]  # overlapping (DNABERT)
    assert symbols.split("AC", SymbolMap(k=3, stride=1)) == ["AC"]
    assert symbols.split("a b c", SymbolMap(unit="whitespace", k=2)) == ["a+b", "c"]
    assert symbols.alphabet(["CAB", "BD"], SymbolMap()) == ["A", "B", "C", "D"]


def test_mapping_is_seeded_one_to_one_and_needs_enough_words() -> None:
    words = [f"w{i}" for i in range(50)]
    a = symbols.build(["A", "C", "G", "T"], words, seed=0)
    assert a == symbols.build(["T", "G", "C", "A"], list(reversed(words)), seed=0)  # order-free
    assert len(set(a.table.values())) == 4 and set(a.table.values()) <= set(words) and a.vocabulary == 50
    assert symbols.build(["A", "C", "G", "T"], words, seed=1).table != a.table
    assert a.apply("GATTACA", SymbolMap()) == " ".join(a.table[c] for c in "GATTACA")
    with pytest.raises(JobFailed, match="5 distinct symbols but the upstream offers only 4"):
        symbols.build(list("ABCDE"), words[:4], seed=0)


class _Words:
    def single_token_words(self) -> list[str]:
        return ["alpha", "beta", "gamma", "delta", "omega"]


def test_map_data_rewrites_every_split_and_records_the_mapping() -> None:
    task = parse_task("toy", {"description": "d", "version": 1, "modality": "text", "head": "classification",
                              "labels": ["x", "y"], "metrics": ["accuracy"], "score": ["accuracy"], "evals": ["test"],
                              "symbol_map": {"unit": "characters", "seed": 3},
                              "sources": {"recipe": {"name": "none"}}}, "test")
    data = TaskData(Examples(("AC", "GT"), (0, 1)), Examples(("CA",), (0,)), {"test": Examples(("TTG",), (1,))},
                    "r", tests={"hidden": Unlabeled((7,), ("GA",))})
    mapped, record = symbols.map_data(task, data, _Words(), "words")
    table = record["mapping"]
    assert sorted(table) == ["A", "C", "G", "T"] and len(set(table.values())) == 4 and record["seed"] == 3
    assert mapped.train.inputs == (f"{table['A']} {table['C']}", f"{table['G']} {table['T']}")
    assert mapped.train.targets == (0, 1) and mapped.evals["test"].inputs == (" ".join(table[c] for c in "TTG"),)
    assert mapped.dev.inputs == (f"{table['C']} {table['A']}",) and mapped.tests["hidden"].index == (7,)
    assert record["alphabet"] == 4 and record["vocabulary"] == 5 and len(record["digest"]) == 16
    with pytest.raises(JobFailed, match="no single_token_words"):
        symbols.map_data(task, data, object(), "plain")
    pairs = TaskData(Examples((("A", "C"),), (0,)), Examples(("C",), (0,)), {"test": Examples(("T",), (1,))}, "r")
    with pytest.raises(BenchError, match="not one string of symbols"):
        symbols.map_data(task, pairs, _Words(), "words")


def test_symbol_map_is_for_text_tasks_and_strict() -> None:
    body = {"description": "d", "version": 1, "modality": "speech", "head": "classification", "labels": ["a"],
            "metrics": ["accuracy"], "score": ["accuracy"], "evals": ["test"], "symbol_map": {},
            "sources": {"recipe": {"name": "x"}}}
    with pytest.raises(BenchError, match="symbol_map maps symbols onto a text upstream's vocabulary"):
        parse_task("s", body, "t.yaml")
    with pytest.raises(BenchError, match="unknown key 'symbol_map.kmer'"):
        parse_task("s", {**body, "modality": "text", "symbol_map": {"kmer": 3}}, "t.yaml")


def test_minilm_reads_every_mapped_symbol_as_exactly_one_token() -> None:
    from upstreams.hf_text import HFTextUpstream
    from upstreams.text import minilm_path

    up = HFTextUpstream(minilm_path(), name="minilm")
    words = up.single_token_words()
    assert len(words) > 20000 and all(w.isalpha() and w.isascii() for w in words)
    amino = list("ACDEFGHIKLMNPQRSTVWY")
    mapping = symbols.build(amino, words, seed=0)
    protein = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKWKRQTLGQHDFSAGEGLYTHMKALRPDEDRLSPLHSVYVDQWDWERVMGDGERQFSTLKSTVEAIWAGIKATEAAVSEEFGLAPFLPDQIHFVHSQELLSRYPDLDAKGRERAIAKDLGAVFLVGIGGKLSDGHRHDVRAPDYDDWUAFKLSNVHYGVCQRPLYTAMAMKE"
    protein = protein.replace("U", "C")
    ids = up.tokenizer(mapping.apply(protein, SymbolMap()))["input_ids"]
    assert len(ids) == len(protein) + 2  # [CLS] + one token per residue + [SEP]
    assert up.tokenizer.convert_ids_to_tokens(ids[1:4]) == [mapping.table[c] for c in protein[:3]]


def test_specific_upstream_keeps_the_contract_and_announces_its_fingerprint() -> None:
    from benchmark.testing import check_upstream
    from upstreams.specific import CNNConfig, SpecificFactory

    factory = SpecificFactory()
    up = factory(None, name="specific")
    report = check_upstream(up)
    assert report.ok, [c for c in report.checks if not c.passed]
    assert factory.fingerprint(None, (), 0) == up.fingerprint and up.num_layers == 4 and up.hidden_size == 128
    assert 0.8e6 < up.n_parameters < 0.9e6
    before = up.embed.weight.detach().clone()
    again = factory(None, name="specific")
    assert (again.embed.weight == before).all()  # seeded: the same weights on every build
    up.reinitialize("embeddings", 5)
    assert not (up.embed.weight == before).all() and up.fingerprint.endswith("+embeddings@5")
    big = factory("dim=32,layers=2", name="specific:dim=32,layers=2")
    assert big.hidden_size == 32 and big.num_layers == 2 and big.fingerprint != up.fingerprint
    for bad in ("dim", "width=3", "kernel=4", "dim=x"):
        with pytest.raises(BenchError, match=r"specific:"):
            CNNConfig.parse(bad)
    assert len(up.single_token_words()) == 4096
    empty = up(["", "s1 s2"])
    assert empty.mask.tolist() == [[True, False], [True, True]]  # an empty text still has a position to pool


@needs_hmmer
def test_upstream_defaults_sit_between_the_task_and_the_user(registry, tmp_path: Path) -> None:
    hp = runner.resolve_hparams("finetune", {})
    plan = runner.plan(registry, ["specific", "minilm"], ["dna-motifs"], [0], hp, tmp_path / "o",
                       cache_dir=tmp_path / "c")
    by = {j.upstream.text: j.hparams for j in plan.jobs}
    assert by["specific"]["lr"] == 1e-3 and by["specific"]["epochs"] == 20  # the upstream's own defaults
    assert by["minilm"]["lr"] == 1e-4 and by["minilm"]["epochs"] == 5  # the task's
    mine = runner.resolve_hparams("finetune", {"lr": 3e-4})
    plan = runner.plan(registry, ["specific"], ["dna-motifs"], [0], mine, tmp_path / "o", cache_dir=tmp_path / "c",
                       explicit={"lr"})
    assert plan.jobs[0].hparams["lr"] == 3e-4 and plan.jobs[0].hparams["epochs"] == 20


def test_step_curve_keeps_window_means() -> None:
    assert step_curve([]) == []
    assert step_curve([4.0, 2.0, 3.0], points=100) == [{"step": 1, "train_loss": 4.0}, {"step": 2, "train_loss": 2.0},
                                                     {"step": 3, "train_loss": 3.0}]
    curve = step_curve([float(i) for i in range(10)], points=4)
    assert curve == [{"step": 3, "train_loss": 1.0}, {"step": 6, "train_loss": 4.0}, {"step": 9, "train_loss": 7.0},
                     {"step": 10, "train_loss": 9.0}]


@needs_hmmer
def test_symbol_task_end_to_end_records_mapping_and_loss_curves(tmp_path: Path, monkeypatch) -> None:
    out, cache = tmp_path / "out", tmp_path / "cache"
    (ft,) = benchmark.run("specific", "dna-motifs", seeds=[0], output=out, cache_dir=cache, mode="finetune",
                          epochs=3)
    table = ft.task_info["symbols"]["mapping"]
    assert sorted(table) == ["A", "C", "G", "T"] and all(w.startswith("s") for w in table.values())
    assert ft.task_info["symbols"]["unit"] == "characters" and ft.hyperparameters["lr"] == 1e-3
    curve = ft.selection["curve"]
    assert [c["epoch"] for c in curve] == [1, 2, 3] and all(c["dev_loss"] > 0 and c["train_loss"] > 0 for c in curve)
    steps = ft.selection["step_curve"]
    assert steps[-1]["step"] == 3 * 25  # 400 examples at batch 16, three epochs
    assert len(ft.predictions["test"]) == 400 and 25 < ft.main_score <= 100
    data = json.loads(next(out.glob("dna-motifs__specific__seed0__*.json")).read_text())
    assert data["task_info"]["symbols"]["digest"] == ft.task_info["symbols"]["digest"]

    # frozen: a second seed finds the mapped features and the words in the cache and never builds the model
    benchmark.run("specific", "dna-motifs", seeds=[0], output=out, cache_dir=cache, epochs=2)
    from upstreams import symbol_cnn

    def no_model(*a, **k):
        raise AssertionError("features and words are cached: the model must not be built")

    monkeypatch.setattr(symbol_cnn.SymbolCNN, "__init__", no_model)
    (frozen,) = benchmark.run("specific", "dna-motifs", seeds=[1], output=out, cache_dir=cache, epochs=2)
    assert frozen.task_info["symbols"]["mapping"] == table and frozen.selection["curve"][0]["dev_loss"] > 0

    from benchmark.plugin.manager import get_plugins
    from benchmark.report.html import render
    from benchmark.report.leaderboard import build

    results = [json.loads(p.read_text()) for p in out.glob("*.json")]
    html = render(build(results, get_plugins().registry))
    assert "dna-motifs · specific: training loss" in html and "dna-motifs · specific: model-selection loss" in html


def _tape(path: Path, n: int, seed: int) -> None:
    import random

    rng = random.Random(seed)
    rows = [{"primary": "".join(rng.choice("ACDEFGHIKLMNPQRSTVWY") for _ in range(rng.randint(8, 20))),
             "stability_score": [round(rng.uniform(-1, 2), 3)], "id": i} for i in range(n)]
    path.write_text(json.dumps(rows))


def test_paper_tasks_read_tape_json_and_say_which_files_are_missing(registry, tmp_path: Path) -> None:
    from benchmark.tasks.data import load, missing

    data_dir = tmp_path / "data"
    (data_dir / "stability").mkdir(parents=True)
    for split, n in (("train", 40), ("valid", 12), ("test", 12)):
        _tape(data_dir / "stability" / f"stability_{split}.json", n, len(split))
    task = registry.tasks.get("tape-stability").obj
    data = load(task, data_dir, registry, tmp_path / "c")
    rows = json.loads((data_dir / "stability" / "stability_train.json").read_text())
    assert data.train.inputs[0] == rows[0]["primary"] and data.train.targets[0] == rows[0]["stability_score"][0]
    assert (len(data.train), len(data.dev), len(data.evals["test"])) == (40, 12, 12)
    (result,) = benchmark.run("specific", "tape-stability", seeds=[0], output=tmp_path / "o", data_dir=data_dir,
                              cache_dir=tmp_path / "c", epochs=2)
    assert set(result.scores) == {"spearman", "pearson"} and result.task_info["symbols"]["alphabet"] <= 20
    (data_dir / "stability" / "stability_test.json").write_text('{"primary": "MKV"}')
    with pytest.raises(BenchError, match="expected a JSON array of records"):
        load(task, data_dir, registry, tmp_path / "c")
    lack = missing(registry.tasks.get("histone-h3").obj, data_dir, registry, tmp_path / "c")
    assert lack is not None and lack.files == "histone/H3/train.jsonl" and "jsonl format" in lack.how
