"""Offline multilingual text and bilingual dictionaries for the encoder analyses and `bench pretrain mlm`.

Text: every entry of Debian's fortune files in English (`fortunes`), German (`fortunes-de`), Spanish
(`fortunes-es`) and Italian (`fortunes-it`), split into sentences. Dictionaries: the FreeDict English-German,
-Spanish, -Italian and -French dictionaries Debian ships in DICT format (`dict-freedict-eng-deu`, ...;
GPL-2.0-or-later, https://freedict.org). Users bring their own text (`--corpus LANG=FILE`, one sentence per
line) and dictionaries (`--dictionary FILE`, tab-separated `source<TAB>target` lines) for other languages.
"""

from __future__ import annotations

import gzip
import random
import re
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

from benchmark.errors import BenchError
from benchmark.hookspecs import hookimpl
from benchmark.interfaces import DatasetRegistrar
from benchmark.types import Examples
from downstreams.recipes.fortunes_qa import LANGUAGES, _files, entries

DICTD = Path("/usr/share/dictd")
DICTIONARIES = {"de": "deu", "es": "spa", "it": "ita", "fr": "fra"}
"""Target language -> FreeDict's code in `dict-freedict-eng-XXX`."""
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
"""A word: letters (any script), with one inner apostrophe (don't, l'amore stays one piece)."""
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”»)]*\s+(?=[\"'“„«(]*[A-ZÀ-Þ¿¡])")


def _package_version(package: str) -> str:
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True,
                             timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        out = ""
    return out or "unknown"


def corpus_revision(languages: list[str]) -> str:
    """The Debian package versions behind the fortune sentences of `languages` (recorded with results)."""
    return ", ".join(f"{LANGUAGES[lang][1]} {_package_version(LANGUAGES[lang][1])}" for lang in languages)


@lru_cache(maxsize=8)
def fortune_sentences(language: str, min_words: int = 4, max_words: int = 48) -> tuple[str, ...]:
    """Every distinct sentence of a language's fortune files (entries split at sentence ends), in a fixed
    shuffled order, so that the first N sentences are a random sample of N (corpus-size curves use prefixes)."""
    if language not in LANGUAGES:
        raise BenchError(f"no fortune corpus for language '{language}' (have: {', '.join(LANGUAGES)}); give your "
                         f"own text as --corpus {language}=FILE")
    if not _files(language):
        pkg = LANGUAGES[language][1]
        raise BenchError(f"the {language} fortune corpus is not installed: apt-get install {pkg}")
    seen: set[str] = set()
    out: list[str] = []
    for item, raw_lines in entries(language):
        lines = [ln.strip() for ln in raw_lines]
        if not lines or "\b" in item:
            continue
        if re.match(r"^\s*--", lines[-1]):
            lines = lines[:-1]  # a signature, not text
        body = re.sub(r"\s*--+\s*", " – ", " ".join(lines))
        for sentence in _SENTENCE_END.split(" ".join(body.split())):
            words = sentence.split()
            letters = sum(c.isalpha() for c in sentence)
            if not min_words <= len(words) <= max_words or letters < 0.6 * len(sentence):
                continue  # too short to give context, too long for a small model, or ASCII art / tables
            key = sentence.lower()
            if key not in seen:
                seen.add(key)
                out.append(sentence)
    random.Random(f"fortune-sentences:{language}").shuffle(out)
    return tuple(out)


def _read_text(path: Path, what: str, layout: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BenchError(f"{what} '{path}' does not exist") from None
    except UnicodeDecodeError:
        raise BenchError(f"{what} '{path}' is not UTF-8 text ({layout})") from None


def read_corpus(path: Path) -> tuple[str, ...]:
    """A user's corpus: one sentence per line (blank lines skipped)."""
    text = _read_text(path, "corpus file", "one sentence per line")
    lines = tuple(" ".join(ln.split()) for ln in text.splitlines() if ln.strip())
    if not lines:
        raise BenchError(f"corpus file '{path}' is empty (one sentence per line)")
    return lines


def _b64(text: str) -> int:
    value = 0
    for ch in text:
        value = value * 64 + _B64.index(ch)
    return value


def _translations(definition: str) -> list[str]:
    """The single-word translations on an entry's translation line(s) (FreeDict layout: the line after the
    headword; grammar tags <masc>, domain tags [chem.] and sense numbers removed)."""
    lines = definition.split("\n")[1:]
    out: list[str] = []
    for line in lines:
        if not line.strip() or line.startswith(" "):
            break  # notes, examples and cross-references are indented
        clean = re.sub(r"<[^>]*>|\[[^\]]*\]|\([^)]*\)|\b\d+\.\s*", " ", line)
        for piece in re.split(r"[,;]", clean):
            word = piece.strip()
            if word and WORD.fullmatch(word):
                out.append(word)
    return out


@lru_cache(maxsize=8)
def freedict(target: str) -> dict[str, frozenset[str]]:
    """English word -> its single-word translations into `target` (de, es, it, fr), lower-cased, from FreeDict."""
    code = DICTIONARIES.get(target)
    if code is None:
        raise BenchError(f"no FreeDict dictionary English-{target} here (have: {', '.join(DICTIONARIES)}); give "
                         "your own as --dictionary FILE (source<TAB>target per line)")
    index, data = DICTD / f"freedict-eng-{code}.index", DICTD / f"freedict-eng-{code}.dict.dz"
    if not index.is_file() or not data.is_file():
        raise BenchError(f"the English-{target} dictionary is not installed: apt-get install dict-freedict-eng-{code}")
    blob = gzip.open(data).read()  # dictzip is gzip with a random-access table in its header
    out: dict[str, set[str]] = {}
    for line in index.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) != 3 or parts[0].startswith("00database") or not WORD.fullmatch(parts[0]):
            continue
        start, size = _b64(parts[1]), _b64(parts[2])
        words = _translations(blob[start:start + size].decode("utf-8", errors="replace"))
        if words:
            out.setdefault(parts[0].lower(), set()).update(w.lower() for w in words)
    return {k: frozenset(v) for k, v in out.items()}


def dictionary_revision(target: str) -> str:
    code = DICTIONARIES.get(target, target)
    return f"dict-freedict-eng-{code} {_package_version(f'dict-freedict-eng-{code}')}"


def read_dictionary(path: Path) -> dict[str, frozenset[str]]:
    """A user's dictionary: `source<TAB>target` lines (several lines per source word allowed; '#' comments)."""
    text = _read_text(path, "dictionary file", "source<TAB>target per line")
    out: dict[str, set[str]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split("\t")]
        if len(parts) != 2 or not all(parts):
            raise BenchError(f"{path}:{n}: expected 'source<TAB>target', got {line[:60]!r}")
        out.setdefault(parts[0].lower(), set()).add(parts[1].lower())
    if not out:
        raise BenchError(f"dictionary file '{path}' has no entries (source<TAB>target per line)")
    return {k: frozenset(v) for k, v in out.items()}


class Sentences:
    """The `sentences` recipe: a language's text, one example per sentence, no labels. Options: {language: de}
    for the builtin fortune text (Debian's fortunes-de, ...), or {file: PATH} for one's own (one sentence per
    line). It serves commands of other plugins (`bench pretrain mlm`), which reach it through the registry
    (`registry.datasets.get("sentences")`) instead of importing this module; a task cannot use it."""

    def revision(self, options: dict[str, Any]) -> str:
        return f"file {options['file']}" if "file" in options else corpus_revision([options["language"]])

    def __call__(self, *, task: Any, options: dict[str, Any], cache_dir: Path) -> dict[str, Examples]:
        if task is not None:
            raise BenchError(f"task '{task.name}': the sentences recipe has no labels; it feeds pretraining "
                             "commands, not tasks")
        if "file" in options:
            sentences = read_corpus(Path(options["file"]))
        else:
            sentences = fortune_sentences(options["language"])
        return {"train": Examples(tuple(sentences), (None,) * len(sentences))}


@hookimpl
def register_datasets(register: DatasetRegistrar) -> None:
    register("sentences", Sentences(), description="a language's text, one sentence per example, no labels (Debian "
             "fortunes in en, de, es, it, or a file): for bench pretrain mlm")
