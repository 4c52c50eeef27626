"""Offline extractive QA from real text in four languages: attributed quotations from Debian's fortune files.

Debian's `fortunes` (English), `fortunes-de`, `fortunes-es` and `fortunes-it` packages hold thousands of
quotations signed `-- Author` (public-domain and freely redistributable collections; see each package's
copyright file). Each item is a short reading-comprehension question over real text: the context is four
quotations by four different authors, each followed by its author (`quote -- Author.`; a double hyphen inside a
quotation is written as an en dash, so `--` only ever introduces an author); the question quotes five
consecutive words of one of them in the corpus's language ("Who said “...”?", "Wer sagte „...“?", "¿Quién dijo
«...»?", "Chi ha detto «...»?"), and the answer is that quotation's author, a span of the context. Answering
means finding which quotation the words come from and reading off its signature; choosing an author at random
(or always the first) scores 25 % exact match.

Authors are split 60 / 20 / 20 into train / dev / test by a hash of their name, so no test author is ever seen
in training; contexts, target quotations and quoted words are drawn with a seed fixed per (language, split).
The same questions in another language make the cross-lingual transfer matrix (train on English, answer German).
"""

from __future__ import annotations

import hashlib
import random
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.errors import BenchError
from benchmark.hookspecs import hookimpl
from benchmark.types import Examples

ROOT = Path("/usr/share/games/fortunes")
LANGUAGES: dict[str, tuple[str, str, str]] = {  # language -> (folder, Debian package, question template)
    "en": ("", "fortunes", "Who said “{}”?"),
    "de": ("de", "fortunes-de", "Wer sagte „{}“?"),
    "es": ("es", "fortunes-es", "¿Quién dijo «{}»?"),
    "it": ("it", "fortunes-it", "Chi ha detto «{}»?"),
}
ANONYMOUS = re.compile(r"anon|unknown|unbekannt|desconocido|ignoto|sconosciuto|proverb|sprichwort|refr[aá]n|"
                       r"fortune|murphy|graffit", re.IGNORECASE)
AUTHOR = re.compile(r"^[^\W\d_][\w.'’\- ]*[\w.]$")
SIGNATURE = re.compile(r"^\s*--+\s*(.+?)\s*$")
CONTEXT_QUOTES = 4
PHRASE_WORDS = 5
SIZES = {"train": 400, "dev": 200, "test": 400}
CITATION = ("Debian fortune packages: fortunes 1:1.99.1 (English), fortunes-de 0.35, fortunes-es 1.36, "
            "fortunes-it 1.99 (/usr/share/games/fortunes)")


@dataclass(frozen=True)
class Quote:
    text: str
    author: str


def _files(language: str) -> list[Path]:
    folder = ROOT / LANGUAGES[language][0]
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.is_symlink()
                  and p.suffix not in (".dat", ".u8"))


def _author(signature: str) -> str | None:
    """The author's name from a signature line: up to the first comma, parenthesis or quote mark."""
    name = re.split(r"[,(\[\"“„«:;/]", signature, maxsplit=1)[0].strip().rstrip(".")
    words = name.split()
    if not 1 <= len(words) <= 4 or not AUTHOR.match(name) or ANONYMOUS.search(name):
        return None
    return name


def entries(language: str) -> Iterator[tuple[str, list[str]]]:
    """Every entry of a language's fortune files, in file order: (raw text, its non-blank lines). The files are
    UTF-8, except a few old Latin-1 ones."""
    for path in _files(language):
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        for item in re.split(r"\n%[ \t\r]*\n", text):
            yield item, [ln for ln in item.strip("\n%").splitlines() if ln.strip()]


def read_quotes(language: str, min_words: int = 8, max_words: int = 40) -> list[Quote]:
    """Every distinct signed quotation of a language's fortune files, of `min_words`..`max_words` words."""
    seen: set[str] = set()
    out: list[Quote] = []
    for _, lines in entries(language):
        if len(lines) < 2:
            continue
        sig = SIGNATURE.match(lines[-1])
        if sig is None or any(SIGNATURE.match(ln) for ln in lines[:-1]):
            continue  # unsigned, or a dialogue / several signatures
        author = _author(sig.group(1))
        # A double hyphen inside a quotation becomes an en dash: " -- " only ever introduces an author.
        quote = " ".join(re.sub(r"\s*--+\s*", " – ", " ".join(lines[:-1])).split())
        if author is None or "\b" in quote or "%" in quote or not min_words <= len(quote.split()) <= max_words:
            continue
        key = quote.lower()
        if key not in seen:
            seen.add(key)
            out.append(Quote(quote, author))
    return out


def split_of(author: str) -> str:
    bucket = hashlib.sha256(author.lower().encode()).digest()[0] % 10
    return "train" if bucket < 6 else "dev" if bucket < 8 else "test"


def build(quotes: list[Quote], language: str, split: str, n: int) -> Examples:
    """n questions over the quotations of one split (see the module docstring)."""
    template = LANGUAGES[language][2]
    by_author: dict[str, list[Quote]] = {}
    for q in quotes:
        by_author.setdefault(q.author, []).append(q)
    authors = sorted(by_author)
    if len(authors) < CONTEXT_QUOTES * 2:
        raise BenchError(f"fortune-qa ({language}, {split}): only {len(authors)} authors; the fortune files look "
                         "incomplete (reinstall the Debian package)")
    rng = random.Random(f"fortune-qa:{language}:{split}")
    inputs, targets = [], []
    while len(inputs) < n:
        chosen = [rng.choice(by_author[a]) for a in rng.sample(authors, CONTEXT_QUOTES)]
        target = rng.randrange(CONTEXT_QUOTES)
        words = chosen[target].text.split()
        at = rng.randrange(len(words) - PHRASE_WORDS + 1)
        phrase = " ".join(words[at:at + PHRASE_WORDS]).strip(".,;:!?\"'“”„«»()[]- ")
        if sum(w.isalpha() for w in phrase.split()) < 3 or any(phrase.lower() in q.text.lower() for k, q in enumerate(chosen) if k != target):
            continue  # the quoted words must point at one quotation only
        context, start = "", 0
        for k, q in enumerate(chosen):
            piece = f"{q.text} -- "
            if k == target:
                start = len(context) + len(piece)
            context += f"{piece}{q.author}. "
        context = context.rstrip()
        assert context[start:start + len(chosen[target].author)] == chosen[target].author
        inputs.append((template.format(phrase), context))
        targets.append({"answers": [chosen[target].author], "starts": [start]})
    return Examples(tuple(inputs), tuple(targets))


def package_version(package: str) -> str:
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True,
                             timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _language(options: dict[str, Any]) -> str:
    language = str(options.get("language", "en"))
    if language not in LANGUAGES:
        raise BenchError(f"fortune-qa: language {language!r} is not one of {', '.join(LANGUAGES)}")
    return language


class FortuneQALoader:
    """Dataset loader `fortune-qa`: option `language` (en, de, es, it)."""

    def missing(self, options: dict[str, Any], cache_dir: Path) -> str | None:
        language = _language(options)
        if not _files(language):
            package = LANGUAGES[language][1]
            return f"Debian's {package} package is not installed: apt-get install {package}"
        return None

    def needs(self, options: dict[str, Any], cache_dir: Path) -> list[Any]:
        """The Debian package holding the language's fortune files (installed by apt, not fetched by bench)."""
        from benchmark.plugin.needs import Need

        package = LANGUAGES[_language(options)][1]
        return [Need("data", f"Debian package {package}", bool(_files(_language(options))),
                     how=f"apt-get install {package}")]

    def revision(self, options: dict[str, Any]) -> str:
        language = _language(options)
        return f"fortune-qa:{language}:{LANGUAGES[language][1]}={package_version(LANGUAGES[language][1])}"

    def __call__(self, *, task: Any, options: dict[str, Any], cache_dir: Path) -> dict[str, Examples]:
        language = _language(options)
        problem = self.missing(options, cache_dir)
        if problem:
            raise BenchError(f"task '{task.name}': {problem}")
        quotes = read_quotes(language)
        pools: dict[str, list[Quote]] = {s: [] for s in SIZES}
        for q in quotes:
            pools[split_of(q.author)].append(q)
        return {split: build(pool, language, split, SIZES[split]) for split, pool in pools.items()}


@hookimpl
def register_datasets(register: Any) -> None:
    register("fortune-qa", FortuneQALoader(),
             description="who-said-it questions over signed quotations of Debian's fortune files (en, de, es, it)")
