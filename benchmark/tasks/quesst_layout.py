"""The QUESST 2014 download (SUPERB QbE), read as s3prl's `quesst14_dtw` reads it: the English subset.

SUBDIR (the unpacked `quesst14Database/`) holds `Audio/` (the documents), `dev_queries/` and `eval_queries/`, and
`scoring/`: `language_key_utterances.lst` and `language_key_{dev,eval}.lst` ("<path> <language>" per line; s3prl
keeps the lines whose language is `nnenglish`, dropping the path's first folder), and the ground truth the
official scorer reads, `groundtruth_quesst14_{dev,eval}/`: `*.ecf.xml` (the documents searched: `<excerpt
audio_filename=...>`), `*.tlist.xml` (the queries: `<term termid=...>`) and `*.rttm` (occurrences: `LEXEME
<document> <channel> <begin> <duration> <query> ...`; the first field from the 6th on that names a listed query).

A split `SUBDIR#dev` or `SUBDIR#eval` is the English queries of that set that the term list names, then the
English documents that the ECF names, in list order; each clip gets s3prl's 3 dB attenuation (sox `gain -3.0`).
Raw labels are `query ID POS...` (POS: the positions, among the split's documents, of the documents the query
occurs in) and `document ID` (downstreams.heads_qbe reads them).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from benchmark.errors import BenchError
from benchmark.media.audio import AudioClip
from benchmark.tasks.speech_files import clip_at, missing_path, parse_split, read_lines

ENGLISH = "nnenglish"
GAIN_DB = -3.0  # s3prl's QUESST dataset applies sox "gain -3.0" to every clip
SETS = ("dev", "eval")


def english(path: Path) -> list[tuple[str, str, int]]:
    """(path relative to SUBDIR, name without extension, line) of the English entries of a language key list."""
    out = []
    for lineno, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2:
            raise BenchError(f"{path}:{lineno}: expected '<audio path> <language>', got {line.strip()!r}")
        audio, lang = fields
        if lang == ENGLISH:
            rel = audio.split("/", 1)[1] if "/" in audio else audio  # s3prl: re.sub(r"^.*?\/", "", path)
            out.append((rel, Path(rel).stem, lineno))
    return out


def _one(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    if len(found) != 1:
        raise BenchError(f"{folder}: expected one {pattern} file of the QUESST 2014 ground truth, found {len(found)}")
    return found[0]


def _xml(path: Path) -> ET.Element:
    try:
        return ET.fromstring("\n".join(read_lines(path)).encode("utf-8"))
    except ET.ParseError as err:
        raise BenchError(f"{path}: not well-formed XML ({err})") from None


def ground_truth(folder: Path) -> tuple[set[str], set[str], dict[str, set[str]]]:
    """(documents of the ECF, queries of the term list, query -> documents it occurs in per the RTTM)."""
    ecf, tlist, rttm = _one(folder, "*.ecf.xml"), _one(folder, "*.tlist.xml"), _one(folder, "*.rttm")
    docs = {Path(e.get("audio_filename", "")).stem for e in _xml(ecf).iter("excerpt")}
    terms = {str(t.get("termid")) for t in _xml(tlist).iter("term") if t.get("termid")}
    if not docs:
        raise BenchError(f"{ecf}: no <excerpt audio_filename=...> entries")
    if not terms:
        raise BenchError(f"{tlist}: no <term termid=...> entries")
    occurs: dict[str, set[str]] = {}
    for lineno, line in enumerate(read_lines(rttm), start=1):
        fields = line.split()
        if not fields or fields[0] != "LEXEME":
            continue  # other RTTM record types carry no occurrence
        if len(fields) < 6:
            raise BenchError(f"{rttm}:{lineno}: expected 'LEXEME <document> <channel> <begin> <duration> <query> "
                             f"...', got {line.strip()!r}")
        # s3prl reads the first query name after the document; the RTTM's orthography field (the 6th) holds it
        term = next((f for f in fields[5:] if f in terms), None)
        if term is not None:
            occurs.setdefault(term, set()).add(Path(fields[1]).stem)
    return docs, terms, occurs


class Quesst14:
    description = ("QUESST 2014 (SUPERB QbE), English subset as s3prl reads it: SUBDIR#dev|eval = the English "
                   "queries of dev_queries/ or eval_queries/ and the English documents of Audio/, occurrences from "
                   "scoring/groundtruth_quesst14_<set>/ (ecf, tlist, rttm)")

    def missing(self, root: Path, split: str) -> str | None:
        sub, sel = parse_split(split, "quesst14", SETS)
        base = root / sub
        return (missing_path(base / "scoring" / "language_key_utterances.lst", root, folder=False)
                or missing_path(base / "scoring" / f"language_key_{sel}.lst", root, folder=False)
                or missing_path(base / "scoring" / f"groundtruth_quesst14_{sel}", root))

    def read(self, root: Path, split: str) -> tuple[list[AudioClip], list[str]]:
        sub, sel = parse_split(split, "quesst14", SETS)
        base = root / sub
        doc_list = base / "scoring" / "language_key_utterances.lst"
        query_list = base / "scoring" / f"language_key_{sel}.lst"
        in_ecf, in_tlist, occurs = ground_truth(base / "scoring" / f"groundtruth_quesst14_{sel}")
        docs = [d for d in english(doc_list) if d[1] in in_ecf]
        queries = [q for q in english(query_list) if q[1] in in_tlist]
        if not docs or not queries:
            raise BenchError(f"{base}: no English ({ENGLISH}) {'documents' if not docs else 'queries'} of the {sel} "
                             "set in scoring/language_key_*.lst that the ground truth names")
        position = {name: k for k, (_, name, _) in enumerate(docs)}
        clips: list[AudioClip] = []
        labels: list[str] = []
        for rel, name, lineno in queries:
            clips.append(clip_at(base / rel, query_list, lineno, gain_db=GAIN_DB))
            hits = sorted(position[d] for d in occurs.get(name, ()) if d in position)
            labels.append(" ".join(["query", name, *map(str, hits)]))
        for rel, name, lineno in docs:
            clips.append(clip_at(base / rel, doc_list, lineno, gain_db=GAIN_DB))
            labels.append(f"document {name}")
        return clips, labels
