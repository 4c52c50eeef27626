"""The Hub-or-files token tasks (UD EWT, CoNLL-2003, SQuAD, DRCD) run from their official file layouts under
--data-dir, here on miniature files and a tiny BERT (fast: the plumbing, not the scores)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

CONTEXT = "Marie Curie was born in Warsaw in 1867. She moved to Paris to study physics."
QUESTIONS = [("Where was Marie Curie born?", "Warsaw"), ("When was she born?", "1867"),
             ("Where did she move?", "Paris"), ("What did she study?", "physics")]


def _squad(path: Path, n: int, context: str = CONTEXT, questions=QUESTIONS) -> None:
    qas = [{"id": str(i), "question": q, "answers": [{"text": a, "answer_start": context.index(a)}]}
           for i, (q, a) in enumerate(questions * n)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"data": [{"title": "t", "paragraphs": [{"context": context, "qas": qas}]}]}),
                    encoding="utf-8")


def _conllu(path: Path, n: int) -> None:
    sent = [("The", "DET"), ("cat", "NOUN"), ("sleeps", "VERB"), (".", "PUNCT")]
    block = "".join(f"{i}\t{w}\t_\t{t}\t_\t_\t_\t_\t_\t_\n" for i, (w, t) in enumerate(sent, start=1)) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"# sent_id = {k}\n{block}" for k in range(n)), encoding="utf-8")


def _conll(path: Path, n: int) -> None:
    sent = "EU NNP B-NP I-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP I-MISC\ncall NN I-NP O\n\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("-DOCSTART- -X- -X- O\n\n" + sent * n, encoding="utf-8")


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    _squad(d / "SQuAD" / "train-v1.1.json", 6)
    _squad(d / "SQuAD" / "dev-v1.1.json", 2)
    zh = "居禮夫人出生於華沙，後來到巴黎學習物理。"
    _squad(d / "DRCD" / "DRCD_training.json", 3, zh, [("她出生於哪裡？", "華沙"), ("她在哪裡學習？", "巴黎")])
    _squad(d / "DRCD" / "DRCD_dev.json", 2, zh, [("她出生於哪裡？", "華沙"), ("她學習什麼？", "物理")])
    for split, n in (("train", 20), ("dev", 5), ("test", 5)):
        _conllu(d / "UD_English-EWT" / f"en_ewt-ud-{split}.conllu", n)
    for name, n in (("eng.train", 20), ("eng.testa", 5), ("eng.testb", 5)):
        _conll(d / "conll2003" / name, n)
    return d


def test_official_layouts_run_and_squad_transfers_to_drcd(tmp_path: Path, data: Path, tiny_bert_dir: Path) -> None:
    from reliability_workspace import make_workspace

    ws = make_workspace(tmp_path / "ws")
    base = ("--upstream", f"bert:{tiny_bert_dir}", "--data-dir", str(data), "--epochs", "2", "-q")
    r = ws.bench("run", "--tasks", "ud-ewt-upos,conll2003-ner", "--output", str(tmp_path / "tags"), *base)
    assert r.returncode == 0, r.stderr
    res = {json.loads(p.read_text())["task"]: json.loads(p.read_text()) for p in (tmp_path / "tags").glob("*.json")}
    assert res["ud-ewt-upos"]["targets"]["test"][0] == ["DET", "NOUN", "VERB", "PUNCT"]
    assert res["conll2003-ner"]["targets"]["test"][0] == ["B-ORG", "O", "B-MISC", "O"]  # IOB1 read as IOB2
    assert res["ud-ewt-upos"]["task_info"]["data_revision"].startswith("local:conllu:")
    r = ws.bench("run", "--train-on", "squad", "--eval-on", "drcd", "--output", str(tmp_path / "qa"), *base)
    assert r.returncode == 0, r.stderr
    (squad,) = [json.loads(p.read_text()) for p in (tmp_path / "qa").glob("squad__*.json")]
    assert set(squad["scores"]) == {"squad_em", "squad_f1"}
    drcd = squad["transfer"]["drcd"]
    assert set(drcd["scores"]) == {"cmrc_em", "cmrc_f1"} and drcd["language"] == "zh"
    assert drcd["targets"]["test"][0] == {"answers": ["華沙"], "starts": [7]}
    zh = "居禮夫人出生於華沙，後來到巴黎學習物理。"
    assert all(a in zh for a in drcd["predictions"]["test"])  # answers are cut from the context
