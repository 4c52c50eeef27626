"""Token-level tasks on the real MiniLM tokenizer and encoder: words aligned through token offsets, QA windows over
long contexts mapped back to character spans, the best-span search, and the data readers (CoNLL-U, CoNLL-2003,
SQuAD JSON) with their one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from benchmark.errors import BenchError
from benchmark.heads import spans, tokens
from benchmark.tasks.schema import LocalSource, parse_task
from benchmark.tasks.token_data import iob2, read_conll, read_conllu, read_squad

TAG_TASK = parse_task("t", {"description": "d", "version": 1, "modality": "text", "head": "tagging",
                            "labels": ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "NOUN", "VERB", "PUNCT", "DET"],
                            "metrics": ["token_accuracy"], "score": ["token_accuracy"], "evals": ["test"],
                            "sources": {"recipe": {"name": "x"}}}, "test")
QA_TASK = parse_task("q", {"description": "d", "version": 1, "modality": "text", "head": "span-qa",
                           "metrics": ["squad_em"], "score": ["squad_em"], "evals": ["test"],
                           "sources": {"recipe": {"name": "x"}}}, "test")


@pytest.fixture(scope="module")
def minilm():
    from upstreams.hf_text import HFTextUpstream
    from upstreams.text import minilm_path

    return HFTextUpstream(minilm_path(), name="minilm").eval()


def test_words_read_their_first_last_or_mean_sub_token(minilm) -> None:
    text = "Tokenization unbelievably works"
    with torch.inference_mode():
        hidden = minilm([text])
    ids = minilm.tokenizer(text)["input_ids"]
    pieces = minilm.tokenizer.convert_ids_to_tokens(ids)
    assert pieces[:3] == ["[CLS]", "token", "##ization"]  # so the first word has two sub-tokens
    offsets = hidden.offsets[0].numpy()
    spans = tokens.word_spans(text)
    first, missing = tokens.word_weights(offsets, spans, "first")
    last, _ = tokens.word_weights(offsets, spans, "last")
    mean, _ = tokens.word_weights(offsets, spans, "mean")
    assert missing == 0
    assert first[0].nonzero()[0].tolist() == [1] and last[0].nonzero()[0].tolist() == [2]
    assert mean[0, 1] == mean[0, 2] == 0.5
    n_second = sum(1 for p in pieces if p.startswith("##")) - 1  # "unbelievably" pieces after its first
    assert first[1].nonzero()[0].tolist() == [3] and last[1].nonzero()[0].tolist() == [3 + n_second]
    vectors, lengths, _ = tokens.word_vectors(minilm, hidden, [text], "first")
    assert lengths.tolist() == [3] and vectors.shape == (1, 3, minilm.num_layers + 1, minilm.hidden_size)
    assert torch.equal(vectors[0, 0], torch.stack([h[0, 1] for h in hidden.layers]))


def test_a_word_the_upstream_truncated_reads_its_last_token(minilm) -> None:
    text = " ".join(["word"] * 600)  # longer than MiniLM's window
    with torch.inference_mode():
        hidden = minilm([text])
    w, missing = tokens.word_weights(hidden.offsets[0].numpy(), tokens.word_spans(text), "first")
    kept = int(hidden.mask[0].sum()) - 2  # [CLS] and [SEP]
    assert missing == 600 - kept
    assert w[-1].nonzero()[0].tolist() == [kept]  # the last real token


def test_long_contexts_are_read_in_overlapping_windows_that_map_back_to_characters(minilm) -> None:
    minilm.max_length = 48  # a small window, so that a paragraph needs several
    try:
        context = ("The committee met on Tuesday. " * 6 + "Its chair, Ada Lovelace, opened the meeting at nine. "
                   + "Nothing else was decided that day. " * 5).strip()
        question = "Who opened the meeting?"
        windows = spans.plan_windows(minilm, [(question, context), ("Where?", "In Paris.")], 8, stride=8)
    finally:
        minilm.max_length = 512
    mine = [w for w in windows if w.example == 0]
    assert len(mine) >= 3 and [w.example for w in windows] == sorted(w.example for w in windows)
    assert [w.start for w in mine] == sorted(w.start for w in mine) and mine[0].start == 0
    assert mine[-1].spans[-1][1] == len(context)  # the last window reaches the end
    for w in mine:
        assert all(context[a:b].strip() == context[a:b] and b > a for a, b in w.spans)
        assert context[w.start - 1].isspace() or w.start == 0  # windows start at a word
    for prev, nxt in zip(mine, mine[1:], strict=False):  # consecutive windows overlap by about `stride` tokens
        shared = [s for s in nxt.spans if prev.spans[0][0] <= s[0] < prev.spans[-1][1]]
        assert 4 <= len(shared) <= 10
    start = context.index("Ada Lovelace")
    holding = [w for w in mine if spans.answer_tokens(w, start, "Ada Lovelace") is not None]
    assert holding
    i, j = spans.answer_tokens(holding[0], start, "Ada Lovelace")
    assert context[holding[0].spans[i][0]:holding[0].spans[j][1]] == "Ada Lovelace"
    short = [w for w in windows if w.example == 1]
    assert len(short) == 1 and short[0].spans[0] == (0, 2)


def test_best_span_keeps_end_after_start_and_within_the_length_limit() -> None:
    start = torch.tensor([0.0, 5.0, 0.0, 0.0, 0.0])
    end = torch.tensor([3.0, 0.0, 0.0, 0.0, 4.0])
    score, i, j = spans.best_span(start, end, max_tokens=10)
    assert (i, j) == (1, 4) and score == 9.0
    _, i, j = spans.best_span(start, end, max_tokens=2)  # (1, 4) is 4 tokens long: not allowed
    assert (i, j) == (1, 1)  # 5 + 0, ahead of (0, 0) = 3 and (3, 4) = 4
    _, i, j = spans.best_span(torch.tensor([0.0, 0.0, 9.0]), torch.tensor([8.0, 0.0, 0.0]), 10)
    assert (i, j) == (2, 2)  # the best end (0) comes before the best start (2): never (2, 0)


def test_conllu_reader_keeps_syntactic_words_and_checks_tags(tmp_path: Path) -> None:
    text = ("# sent_id = 1\n# text = Don't go.\n"
            "1-2\tDon't\t_\t_\t_\t_\t_\t_\t_\t_\n1\tDo\tdo\tAUX\t_\t_\t3\taux\t_\t_\n"
            "2\tn't\tnot\tPART\t_\t_\t3\tadvmod\t_\t_\n3\tgo\tgo\tVERB\t_\t_\t0\troot\t_\t_\n"
            "3.1\tgone\tgo\tVERB\t_\t_\t_\t_\t3:x\t_\n4\t.\t.\tPUNCT\t_\t_\t3\tpunct\t_\t_\n\n")
    task = parse_task("p", {**_body(TAG_TASK), "labels": ["AUX", "PART", "VERB", "PUNCT"]}, "test")
    src = LocalSource(format="conllu", dir="d", inputs=["form"], label="upos", splits={"train": "x"})
    ex = read_conllu(task, src, tmp_path / "x.conllu", text)
    assert ex.inputs == ("Do n't go .",) and ex.targets == (("AUX", "PART", "VERB", "PUNCT"),)
    bad = parse_task("p", {**_body(TAG_TASK), "labels": ["AUX", "PART", "VERB"]}, "test")
    with pytest.raises(BenchError, match=r"tag 'PUNCT' at .*sentence 1 \(1\) is not one of"):
        read_conllu(bad, src, tmp_path / "x.conllu", text)
    with pytest.raises(BenchError, match="not valid CoNLL-U .*'x' is not a valid ID"):
        read_conllu(task, src, tmp_path / "x.conllu", "x\ta\tb\tc\td\te\tf\tg\th\ti\n\n")
    with pytest.raises(BenchError, match="CoNLL-U tokens have no field 'upos' \\(fields: id, form, lemma\\)"):
        read_conllu(task, src, tmp_path / "x.conllu", "1\tonly\tthree\n\n")


def test_conll2003_reader_skips_docstart_and_reads_iob1_as_iob2(tmp_path: Path) -> None:
    text = ("-DOCSTART- -X- -X- O\n\nEU NNP B-NP I-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP I-MISC\n"
            "call NN I-NP O\n\nPeter NNP B-NP I-PER\nBlackburn NNP I-NP I-PER\n")
    task = parse_task("n", {**_body(TAG_TASK), "labels": ["O", "B-ORG", "I-ORG", "B-MISC", "I-MISC", "B-PER",
                                                          "I-PER"]}, "test")
    src = LocalSource(format="conll", dir="d", inputs=[0], label=-1, splits={"train": "x"})
    ex = read_conll(task, src, tmp_path / "eng.train", text)
    assert ex.inputs == ("EU rejects German call", "Peter Blackburn")
    assert ex.targets == (("B-ORG", "O", "B-MISC", "O"), ("B-PER", "I-PER"))
    assert iob2(["I-PER", "I-PER", "B-PER", "I-LOC", "O", "I-LOC"]) == ["B-PER", "I-PER", "B-PER", "B-LOC", "O",
                                                                       "B-LOC"]


def test_squad_reader_fixes_a_misplaced_start_and_skips_unanswerable(tmp_path: Path) -> None:
    import json

    doc = {"data": [{"title": "t", "paragraphs": [{"context": "Paris is the capital of France.", "qas": [
        {"id": "1", "question": "Capital?", "answers": [{"text": "Paris", "answer_start": 0},
                                                        {"text": "Paris", "answer_start": 0}]},
        {"id": "2", "question": "Country?", "answers": [{"text": "France", "answer_start": 3}]},
        {"id": "3", "question": "Unanswerable?", "answers": []}]}]}]}
    src = LocalSource(format="squad-json", dir="d", inputs=["question", "context"], label="answers",
                      splits={"train": "x"})
    ex = read_squad(QA_TASK, src, tmp_path / "x.json", json.dumps(doc))
    assert ex.inputs == (("Capital?", "Paris is the capital of France."), ("Country?", "Paris is the capital of "
                                                                                       "France."))
    assert ex.targets[1] == {"answers": ["France"], "starts": [24]}
    with pytest.raises(BenchError, match="not SQuAD JSON"):
        read_squad(QA_TASK, src, tmp_path / "x.json", '{"version": 1}')


def _body(task) -> dict:
    return task.model_dump(exclude={"name"}, exclude_defaults=True)


def test_hub_rows_become_tagged_sentences_and_qa_items() -> None:
    from datasets import ClassLabel, Dataset, Features, Sequence, Value

    from benchmark.tasks.token_data import hub_qa, hub_tagged

    upos = ClassLabel(names=["NOUN", "PUNCT", "ADP", "_", "AUX", "PART", "VERB"])  # UD's Hub order, with `_`
    ds = Dataset.from_dict({"tokens": [["Don't", "Do", "n't", "go", "."]], "upos": [[3, 4, 5, 6, 1]]},
                           features=Features({"tokens": Sequence(Value("string")), "upos": Sequence(upos)}))
    task = parse_task("p", {**_body(TAG_TASK), "labels": ["AUX", "PART", "VERB", "PUNCT"]}, "test")
    ex = hub_tagged(task, ds, ["tokens"], "upos", "hub")
    assert ex.inputs == ("Do n't go .",) and ex.targets == (("AUX", "PART", "VERB", "PUNCT"),)
    squad = Dataset.from_dict({"question": ["Capital?"], "context": ["Paris is the capital."],
                               "answers": [{"text": ["Paris", "Paris"], "answer_start": [0, 0]}]})
    qa = hub_qa(QA_TASK, squad, ["question", "context"], "answers", "hub")
    assert qa.inputs == (("Capital?", "Paris is the capital."),)
    assert qa.targets == ({"answers": ["Paris", "Paris"], "starts": [0, 0]},)


def test_empty_contexts_and_invisible_tails_make_no_extra_windows(minilm) -> None:
    windows = spans.plan_windows(minilm, [("Q?", "abc def \u200b"), ("Q?", ""), ("Q?", "x")], 4, stride=8)
    assert [(w.example, w.start, w.spans) for w in windows] == [
        (0, 0, ((0, 3), (4, 7))), (1, 0, ((0, 0),)), (2, 0, ((0, 1),))]
