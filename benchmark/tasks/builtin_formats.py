"""Builtin plugin that registers the data formats a `local:` source can name: the tables of benchmark.tasks.formats
(tsv, glue-tsv, csv, jsonl, json, parquet) and the token-level files of benchmark.tasks.token_data."""

from __future__ import annotations

from typing import Any

from benchmark.hookspecs import hookimpl
from benchmark.tasks.formats import BUILTIN, TextFormat
from benchmark.tasks.token_data import read_conll, read_conllu, read_squad


@hookimpl
def register_formats(register: Any) -> None:
    for fmt in BUILTIN:
        register(fmt)
    register(TextFormat("conllu", "Universal Dependencies CoNLL-U; label names the field (upos, xpos...)",
                        read_conllu))
    register(TextFormat("conll", "CoNLL-2003 columns, one token per line; BIO tags read as IOB2", read_conll))
    register(TextFormat("squad-json", "SQuAD v1.1 JSON (also DRCD, CMRC 2018): extractive QA", read_squad))
