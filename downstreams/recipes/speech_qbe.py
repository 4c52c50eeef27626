"""`synth-qbe`: query by example on speech synthesised here with eSpeak NG (downstreams.recipes.speech_synth's
speakers, synthesis and degradation), after SUPERB QbE (QUESST 2014).

Terms are words and short phrases of speech_synth's sentence grammar: verbs ("painted") and objects without
their article ("garden gate"). The grammar's verbs and objects are dealt into select terms, test terms and
fillers (disjoint). Each split has its own queries and documents:

- queries: each of the split's terms spoken alone `queries_per_term` times, each time by a different query voice
  (clean, as QUESST's read queries);
- documents: sentences "SUBJECT VERB OBJECT" spoken by document voices never used for queries (and different
  for select and test), with reverberation and noise (speech_synth.degrade); each term occurs in
  round(`fraction` × documents) documents (its slot is a filler elsewhere), so a query is a target in exactly
  that many documents.

Select and test share no term, no query, no document and no voice. Each split's examples are its queries, then
its documents (targets as downstreams.heads_qbe describes). Built once per (options, eSpeak NG version) and cached.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmark.errors import BenchError
from benchmark.hookspecs import hookimpl
from benchmark.types import Examples
from downstreams.recipes.speech_synth import (
    OBJECTS,
    SUBJECTS,
    VERBS,
    Split,
    SynthRecipe,
    as_json,
    degrade,
    from_json,
    say,
    speakers,
)

RECIPE_VERSION = 1
DEFAULTS: dict[str, Any] = {"seed": 0, "terms": 3, "queries_per_term": 2, "documents": 40, "fraction": 0.2,
                            "query_voices": 4, "document_voices": 4}
"""terms: verb terms and object terms per split (so 2 × terms terms); voices: per split."""


def _term(phrase: str) -> str:
    """An object phrase without its article ("the garden gate" -> "garden gate")."""
    words = phrase.split()
    return " ".join(words[1:]) if words[0] in ("the", "a", "an") else phrase


def plan(o: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What each split says: its terms, its queries (term, voice) and its documents (sentence, voice, terms in it)."""
    rng = np.random.default_rng([o["seed"], 11])
    verbs, objects = list(rng.permutation(len(VERBS))), list(rng.permutation(len(OBJECTS)))
    k = o["terms"]
    hits = round(o["fraction"] * o["documents"])
    out: dict[str, dict[str, Any]] = {}
    for s, split in enumerate(("select", "test")):
        v_terms, o_terms = verbs[s * k:(s + 1) * k], objects[s * k:(s + 1) * k]
        v_fill, o_fill = verbs[2 * k:], objects[2 * k:]
        r = np.random.default_rng([o["seed"], 12, s])
        # Each term fills its slot in `hits` documents, chosen at random; every other slot gets a filler.
        verb_of = [int(v_fill[int(r.integers(len(v_fill)))]) for _ in range(o["documents"])]
        object_of = [int(o_fill[int(r.integers(len(o_fill)))]) for _ in range(o["documents"])]
        for slot, terms in ((verb_of, v_terms), (object_of, o_terms)):
            chosen = r.permutation(o["documents"])[: hits * k]
            for t, term in enumerate(terms):
                for d in chosen[t * hits:(t + 1) * hits]:
                    slot[int(d)] = int(term)
        docs = []
        for d in range(o["documents"]):
            text = f"{SUBJECTS[int(r.integers(len(SUBJECTS)))]} {VERBS[verb_of[d]]} {OBJECTS[object_of[d]]}"
            docs.append({"text": text, "voice": int(r.integers(o["document_voices"])),
                         "terms": [VERBS[verb_of[d]], _term(OBJECTS[object_of[d]])]})
        terms = [VERBS[int(i)] for i in v_terms] + [_term(OBJECTS[int(i)]) for i in o_terms]
        queries = [{"term": term, "voice": int(v)} for term in terms
                   for v in r.permutation(o["query_voices"])[: o["queries_per_term"]]]
        out[split] = {"terms": terms, "queries": queries, "documents": docs}
    return out


def build_split(o: dict[str, Any], split: str, spec: dict[str, Any]) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
    s = ("select", "test").index(split)
    voices = speakers(2 * (o["query_voices"] + o["document_voices"]), o["seed"])
    q_voices = voices[s * o["query_voices"]:(s + 1) * o["query_voices"]]
    d_voices = voices[2 * o["query_voices"] + s * o["document_voices"]:][: o["document_voices"]]
    waves: list[np.ndarray] = []
    targets: list[dict[str, Any]] = []
    for q, query in enumerate(spec["queries"]):
        voice = q_voices[query["voice"]]
        rng = np.random.default_rng([o["seed"], 13, s, q])
        waves.append(say(query["term"], voice, rng))
        hits = [d for d, doc in enumerate(spec["documents"]) if query["term"] in doc["terms"]]
        targets.append({"role": "query", "id": f"{split}_q{q:03d}_{query['term'].replace(' ', '-')}", "hits": hits})
    for d, doc in enumerate(spec["documents"]):
        voice = d_voices[doc["voice"]]
        rng = np.random.default_rng([o["seed"], 14, s, d])
        waves.append(degrade(say(doc["text"], voice, rng), rng))
        targets.append({"role": "document", "id": f"{split}_d{d:03d}"})
    return waves, targets


class SynthQbE(SynthRecipe):
    """The `synth-qbe` dataset loader (register_datasets): select and test splits (nothing is trained)."""

    name, prefix, what, version = "synth-qbe", "qbe", "eSpeak NG QbE audio", RECIPE_VERSION
    defaults = DEFAULTS
    whole = {"seed": 0, "terms": 1, "queries_per_term": 1, "documents": 1, "query_voices": 1, "document_voices": 1}

    def check(self, o: dict[str, Any]) -> dict[str, Any]:
        if 2 * o["terms"] >= len(VERBS) or 2 * o["terms"] >= len(OBJECTS):
            raise BenchError(f"synth-qbe: terms must be below {min(len(VERBS), len(OBJECTS)) // 2} (select and test "
                             "terms are disjoint and each slot needs a filler)")
        hits = round(o["fraction"] * o["documents"]) if isinstance(o["fraction"], int | float) else 0
        if not 0 < o["fraction"] < 1 or hits < 1 or hits * o["terms"] > o["documents"]:
            raise BenchError(f"synth-qbe: fraction must leave each term in at least one document and at most "
                             f"documents / terms of them (got {o['fraction']!r} of {o['documents']} documents)")
        if o["queries_per_term"] > o["query_voices"]:
            raise BenchError("synth-qbe: queries_per_term must not exceed query_voices (one query per voice and term)")
        return o
    splits = ("select", "test")

    def synthesise(self, o: dict[str, Any]) -> dict[str, Split]:
        out: dict[str, Split] = {}
        for split, spec in plan(o).items():
            waves, targets = build_split(o, split, spec)
            out[split] = (waves, {"targets": as_json(targets)})
        return out

    def examples(self, split: str, waves: tuple[np.ndarray, ...], arrays: dict[str, np.ndarray]) -> Examples:
        return Examples(waves, from_json(arrays["targets"]))


@hookimpl
def register_datasets(register: Any) -> None:
    register("synth-qbe", SynthQbE(), description="query-by-example data synthesised offline with eSpeak NG: "
                                                  "spoken terms searched in sentences by unseen voices")
