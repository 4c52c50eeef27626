"""The offline token-level tasks build from real data: the two hand-annotated samples shipped with bench and the
who-said-it questions over Debian's fortune quotations (four languages)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from benchmark.tasks.data import load
from downstreams.recipes import fortunes_qa


@pytest.mark.parametrize(("name", "n", "n_words", "majority"), [
    ("upos-movie-reviews", 260, 4707, "NOUN"), ("ner-nyt-editorials", 360, 8036, "O")])
def test_the_hand_annotated_samples_load_with_fixed_splits(registry, tmp_path: Path, name: str, n: int,
                                                           n_words: int, majority: str) -> None:
    task = registry.tasks.get(name).obj
    data = load(task, None, registry, tmp_path)
    splits = [data.train, data.dev, *data.evals.values()]
    assert sum(len(s) for s in splits) == n
    assert sum(len(t) for s in splits for t in s.targets) == n_words
    assert all(len(text.split(" ")) == len(tags) for s in splits for text, tags in zip(s.inputs, s.targets, strict=True))
    assert len(data.train) > len(data.evals["test"]) > 40  # 60 / 20 / 20 by a hash of the sentence id
    assert not set(data.train.inputs) & set(data.evals["test"].inputs)
    counts = Counter(t for tags in data.train.targets for t in tags)
    assert counts.most_common(1)[0][0] == majority
    assert load(task, None, registry, tmp_path).evals["test"] == data.evals["test"]  # deterministic


fortunes = pytest.mark.skipif(not fortunes_qa._files("en"), reason="apt-get install fortunes fortunes-de ...")


@fortunes
@pytest.mark.parametrize("language", ["en", "de", "es", "it"])
def test_fortune_questions_point_at_their_author_in_the_context(registry, tmp_path: Path, language: str) -> None:
    task = registry.tasks.get(f"fortune-qa-{language}").obj
    data = load(task, None, registry, tmp_path)
    assert (len(data.train), len(data.dev), len(data.evals["test"])) == (400, 200, 400)
    authors = {}
    for split, ex in (("train", data.train), ("dev", data.dev), ("test", data.evals["test"])):
        for (question, context), gold in zip(ex.inputs, ex.targets, strict=True):
            (answer,), (start,) = gold["answers"], gold["starts"]
            assert context[start:start + len(answer)] == answer
            assert context[start + len(answer)] == "."  # each quotation is followed by "-- Author."
            assert context[:start].endswith(" -- ")
            assert context.count(" -- ") == fortunes_qa.CONTEXT_QUOTES
            phrase = re.fullmatch(r".*?[“„«](.+)[”“»]\?", question).group(1)
            quoted = [q for q in context.split(" -- ") if phrase.lower() in q.lower()]
            assert len(quoted) == 1, (question, context)  # the quoted words name one quotation only
            authors.setdefault(split, set()).add(answer)
    assert not authors["train"] & authors["test"] and not authors["train"] & authors["dev"]
    # the answer's position among the four quotations is uniform: always-first would score about 25 %
    firsts = sum(g["starts"][0] == c.index(" -- ") + 4 for (_, c), g in zip(data.evals["test"].inputs,
                                                                            data.evals["test"].targets, strict=True))
    assert 60 <= firsts <= 140
    revision = registry.datasets.get("fortune-qa").obj.revision({"language": language})
    assert revision.startswith(f"fortune-qa:{language}:fortunes")


def test_fortune_qa_without_the_package_says_what_to_install(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(fortunes_qa, "ROOT", tmp_path / "nowhere")
    loader = fortunes_qa.FortuneQALoader()
    assert loader.missing({"language": "de"}, tmp_path) == ("Debian's fortunes-de package is not installed: "
                                                            "apt-get install fortunes-de")
    with pytest.raises(Exception, match="not one of en, de, es, it"):
        loader.missing({"language": "fr"}, tmp_path)
