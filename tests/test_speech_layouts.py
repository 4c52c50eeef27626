"""Readers of SUPERB's official download layouts, on miniature copies of each layout built in tmp_path."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from benchmark.errors import BenchError
from benchmark.tasks import speech_layouts as sl

RATE = 16_000


def _wav_bytes(seconds: float = 0.01, value: float = 0.1, fmt: str = "WAV") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.full(int(seconds * RATE), value, np.float32), RATE, format=fmt, subtype="PCM_16")
    return buf.getvalue()


WAV = _wav_bytes()
FLAC = _wav_bytes(fmt="FLAC")


def put(path: Path, data: bytes | str = WAV) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def rel(clips: list, root: Path) -> list[str]:
    return [Path(c.path).relative_to(root).as_posix() for c in clips]


@pytest.fixture(autouse=True)
def _never_decode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Readers must not decode audio (only sf.info on Speech Commands' background noise)."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a reader decoded audio")

    monkeypatch.setattr(sf, "read", refuse)


# -- KS ----------------------------------------------------------------------------------------------------------

TRAIN_SPEAKERS = ("0a7c2a8d", "1a892463")  # hash percentages 56.836 and 81.812: train
DEV_SPEAKERS = ("56e27d59", "9e3779b1")  # 1.041 and 1.701: dev
HELD_OUT = "0c40e715"  # 16.395: the dataset's own test portion, which SUPERB discards


def test_ks_hash_rule_matches_hand_computed_assignments() -> None:
    # sha1 of the part before "_nohash_", mod 2**27, times 100 / (2**27 - 1): < 10 dev, < 20 test, else train
    assert sl.ks_hash_split("0a7c2a8d_nohash_0.wav") == "train"
    assert sl.ks_hash_split("0a7c2a8d_nohash_4.wav") == "train"  # same speaker, same side
    assert sl.ks_hash_split("1a892463_nohash_0.wav") == "train"
    assert sl.ks_hash_split("9e3779b1_nohash_0.wav") == "dev"
    assert sl.ks_hash_split("56e27d59_nohash_1.wav") == "dev"
    assert sl.ks_hash_split("00000000_nohash_0.wav") == "dev"  # 9.556
    assert sl.ks_hash_split("0c40e715_nohash_0.wav") == "test"
    assert sl.ks_hash_split("5e3dde6b_nohash_0.wav") == "test"  # 10.988
    assert sl.ks_hash_split("3bc21161_nohash_0.wav") == "train"  # 22.543


@pytest.fixture()
def ks_root(tmp_path: Path) -> Path:
    base = tmp_path / "speech_commands_v0.01"
    for word in (*sl.KS_WORDS, "bed", "wow"):
        for spk in TRAIN_SPEAKERS + DEV_SPEAKERS + (HELD_OUT,):
            put(base / word / f"{spk}_nohash_0.wav")
    put(base / "yes" / "0a7c2a8d_nohash_1.wav")  # a second take: 3 train "yes"
    for name in ("LICENSE", "README.md", "validation_list.txt", "testing_list.txt"):
        put(base / name, "x\n")
    put(base / "_background_noise_" / "white_noise.wav", _wav_bytes(3.0, 0.5))
    put(base / "_background_noise_" / "pink_noise.wav", _wav_bytes(2.5, 0.5))
    put(base / "_background_noise_" / "README.md", "noise\n")
    test = tmp_path / "speech_commands_test_set_v0.01"
    for label in sl.KS_LABELS:
        put(test / label / f"{HELD_OUT}_nohash_0.wav")  # the test set is not hash-split
    put(test / "yes" / "9e3779b1_nohash_0.wav")
    return tmp_path


def test_ks_train_dev_test_and_silence_crops(ks_root: Path) -> None:
    ks = sl.LAYOUTS["speech-commands"]
    folders = sorted((*sl.KS_WORDS, "bed", "wow"))
    clips, labels = ks.read(ks_root, "speech_commands_v0.01#train")
    words = [(f"speech_commands_v0.01/{w}/{s}_nohash_{k}.wav", w if w in sl.KS_WORDS else "_unknown_")
             for w in folders for s, k in (("0a7c2a8d", 0), ("0a7c2a8d", 1), ("1a892463", 0))
             if k == 0 or w == "yes"]
    n_words = len(words)
    assert list(zip(rel(clips, ks_root), labels))[:n_words] == words
    # silence: round(mean of the 10 keyword counts) = round(21 / 10) = 2 crops, one per noise file (sorted)
    assert labels[n_words:] == ["_silence_", "_silence_"] and len(clips) == n_words + 2
    silence = clips[n_words:]
    assert rel(silence, ks_root) == ["speech_commands_v0.01/_background_noise_/pink_noise.wav",
                                     "speech_commands_v0.01/_background_noise_/white_noise.wav"]
    for c, duration in zip(silence, (2.5, 3.0)):
        assert c.stop - c.start == pytest.approx(1.0) and 0 <= c.start and c.stop <= duration and c.seconds == 1.0
    assert all(c.gain_db == -3.0 for c in clips)
    assert ks.read(ks_root, "speech_commands_v0.01#train") == (clips, labels)  # deterministic

    dev, dev_labels = ks.read(ks_root, "speech_commands_v0.01#dev")
    assert rel(dev, ks_root)[:4] == ["speech_commands_v0.01/bed/56e27d59_nohash_0.wav",
                                     "speech_commands_v0.01/bed/9e3779b1_nohash_0.wav",
                                     "speech_commands_v0.01/down/56e27d59_nohash_0.wav",
                                     "speech_commands_v0.01/down/9e3779b1_nohash_0.wav"]
    assert dev_labels.count("_unknown_") == 4 and dev_labels.count("yes") == 2
    assert dev_labels.count("_silence_") == 2 and len(dev) == 24 + 2  # 12 folders x 2 dev speakers
    assert [c.start for c in dev[-2:]] != [c.start for c in silence]  # seeded per split: other crops
    assert not any(HELD_OUT in c.path for c in clips + dev)

    test, test_labels = ks.read(ks_root, "speech_commands_test_set_v0.01#test")
    assert sorted(zip(test_labels, rel(test, ks_root))) == sorted(
        [(label, f"speech_commands_test_set_v0.01/{label}/{HELD_OUT}_nohash_0.wav") for label in sl.KS_LABELS]
        + [("yes", "speech_commands_test_set_v0.01/yes/9e3779b1_nohash_0.wav")])
    assert test_labels[:2] == ["_silence_", "_unknown_"] and all(c.gain_db == -3.0 for c in test)


def test_ks_silence_crop_decodes_to_one_second_at_minus_3_db(ks_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clips, labels = sl.LAYOUTS["speech-commands"].read(ks_root, "speech_commands_v0.01#train")
    monkeypatch.undo()  # allow decoding again
    wave = clips[-1].decode(RATE)
    assert wave.shape == (RATE,)
    assert np.allclose(wave, 0.5 * 10 ** (-3 / 20), atol=1e-3)  # the noise file holds a constant 0.5


def test_ks_missing_and_errors(ks_root: Path, tmp_path: Path) -> None:
    ks = sl.LAYOUTS["speech-commands"]
    assert ks.missing(ks_root, "speech_commands_v0.01#train") is None
    assert ks.missing(ks_root, "speech_commands_test_set_v0.01#test") is None
    assert ks.missing(tmp_path / "none", "speech_commands_v0.01#dev") == "speech_commands_v0.01/"
    put(tmp_path / "bare" / "speech_commands_v0.01" / "yes" / "0a7c2a8d_nohash_0.wav")
    assert ks.missing(tmp_path / "bare", "speech_commands_v0.01#train") == "speech_commands_v0.01/_background_noise_/"
    with pytest.raises(BenchError, match=r"^speech-commands: split 'speech_commands_v0.01' must read "
                                         r"'SUBDIR#SELECTOR' with SELECTOR train \| dev \| test$"):
        ks.missing(ks_root, "speech_commands_v0.01")
    with pytest.raises(BenchError, match=r"folder 'bed' is not one of the 12 test classes"):
        ks.read(ks_root, "speech_commands_v0.01#test")  # the training download given as the test set
    with pytest.raises(BenchError, match=r"speech_commands_test_set_v0.02: folder not found"):
        ks.read(ks_root, "speech_commands_test_set_v0.02#test")


# -- IC ----------------------------------------------------------------------------------------------------------

FSC_HEADER = ",path,speakerId,transcription,action,object,location\n"


def test_fsc_splits_labels_and_intent_list(tmp_path: Path) -> None:
    base = tmp_path / "fluent_speech_commands_dataset"
    for spk, utt in (("2BqVo8kVB2Skwgyb", "a1"), ("2BqVo8kVB2Skwgyb", "b2"), ("xRQE5VD7rRHVdyvM", "c3")):
        put(base / "wavs" / "speakers" / spk / f"{utt}.wav")
    put(base / "data" / "train_data.csv", FSC_HEADER
        + "0,wavs/speakers/2BqVo8kVB2Skwgyb/a1.wav,2BqVo8kVB2Skwgyb,Change language,change language,none,none\n"
        + '1,wavs/speakers/2BqVo8kVB2Skwgyb/b2.wav,2BqVo8kVB2Skwgyb,"Lights on, washroom",activate,lights,washroom\n')
    put(base / "data" / "test_data.csv", FSC_HEADER
        + "0,wavs/speakers/xRQE5VD7rRHVdyvM/c3.wav,xRQE5VD7rRHVdyvM,Bring me my shoes,bring,shoes,none\n")
    ic = sl.LAYOUTS["fluent-speech-commands"]
    clips, labels = ic.read(tmp_path, "fluent_speech_commands_dataset#train")
    assert rel(clips, tmp_path) == ["fluent_speech_commands_dataset/wavs/speakers/2BqVo8kVB2Skwgyb/a1.wav",
                                    "fluent_speech_commands_dataset/wavs/speakers/2BqVo8kVB2Skwgyb/b2.wav"]
    assert labels == ["change language|none|none", "activate|lights|washroom"]
    assert ic.read(tmp_path, "fluent_speech_commands_dataset#test")[1] == ["bring|shoes|none"]
    assert ic.missing(tmp_path, "fluent_speech_commands_dataset#test") is None
    assert ic.missing(tmp_path, "fluent_speech_commands_dataset#valid") == \
        "fluent_speech_commands_dataset/data/valid_data.csv"
    # 31 intents over s3prl's slot values: 6 actions, 14 objects, 4 locations (its 24-way factorised head)
    assert len(set(sl.IC_LABELS)) == 31 and sl.IC_LABELS == sorted(sl.IC_LABELS)
    slots = list(zip(*(x.split("|") for x in sl.IC_LABELS)))
    assert [len(set(s)) for s in slots] == [6, 14, 4]


@pytest.mark.parametrize("row, message", [
    ("1,wavs/speakers/s/a1.wav,s,Dance,activate,lights\n", r"train_data.csv:3: expected 7 comma-separated columns, got 6$"),
    ("1,wavs/speakers/s/a1.wav,s,Dance,dance,lights,none\n",
     r"train_data.csv:3: intent 'dance\|lights\|none' is not one of the 31 Fluent Speech Commands intents"),
    ("1,wavs/speakers/s/zz.wav,s,Lamp on,activate,lamp,none\n",
     r"train_data.csv:3: audio file .*wavs/speakers/s/zz.wav not found \(is the download complete\?\)$"),
])
def test_fsc_one_line_errors(tmp_path: Path, row: str, message: str) -> None:
    base = tmp_path / "fluent_speech_commands_dataset"
    put(base / "wavs" / "speakers" / "s" / "a1.wav")
    put(base / "data" / "train_data.csv", FSC_HEADER + "0,wavs/speakers/s/a1.wav,s,Lamp on,activate,lamp,none\n" + row)
    with pytest.raises(BenchError, match=message) as err:
        sl.LAYOUTS["fluent-speech-commands"].read(tmp_path, "fluent_speech_commands_dataset#train")
    assert "\n" not in str(err.value)


# -- SID ---------------------------------------------------------------------------------------------------------

IDEN_SPLIT = """1 id10001/1zcIwhmdeo4/00001.wav
1 id10001/1zcIwhmdeo4/00002.wav
2 id10001/7w0IBEWc9Qw/00001.wav
3 id10001/Y8hIVOBuels/00001.wav
1 id10270/5r0dWxy17C8/00001.wav
3 id10270/x6uYqmx31kE/00001.wav
"""


@pytest.mark.parametrize("arrangement", ["s3prl", "merged"])
def test_voxceleb1_sets_and_wav_arrangements(tmp_path: Path, arrangement: str) -> None:
    base = tmp_path / "VoxCeleb1"
    put(base / "iden_split.txt", IDEN_SPLIT)

    def where(name: str) -> str:  # s3prl: dev/wav from vox1_dev_wav.zip, test/wav from vox1_test_wav.zip
        return "wav" if arrangement == "merged" else "test/wav" if name.startswith("id10270") else "dev/wav"

    for line in IDEN_SPLIT.splitlines():
        put(base / where(line.split()[1]) / line.split()[1])
    vox = sl.LAYOUTS["voxceleb1"]
    assert vox.missing(tmp_path, "VoxCeleb1#train") is None
    expect = {"train": ["id10001/1zcIwhmdeo4/00001.wav", "id10001/1zcIwhmdeo4/00002.wav",
                        "id10270/5r0dWxy17C8/00001.wav"],
              "dev": ["id10001/7w0IBEWc9Qw/00001.wav"],
              "test": ["id10001/Y8hIVOBuels/00001.wav", "id10270/x6uYqmx31kE/00001.wav"]}
    for sel, names in expect.items():
        clips, labels = vox.read(tmp_path, f"VoxCeleb1#{sel}")
        assert rel(clips, base) == [f"{where(n)}/{n}" for n in names]
        assert labels == [n.split("/")[0] for n in names]


def test_voxceleb1_missing_errors_and_labels(tmp_path: Path) -> None:
    vox = sl.LAYOUTS["voxceleb1"]
    assert len(sl.SID_LABELS) == 1251 and sl.SID_LABELS[0] == "id10001" and sl.SID_LABELS[-1] == "id11251"
    assert vox.missing(tmp_path, "VoxCeleb1#dev") == "VoxCeleb1/wav/"
    put(tmp_path / "VoxCeleb1" / "wav" / "id10001" / "1zcIwhmdeo4" / "00001.wav")
    assert vox.missing(tmp_path, "VoxCeleb1#dev") == "VoxCeleb1/iden_split.txt"
    for text, message in (("1 id10001/1zcIwhmdeo4/00001.wav\n4 id10001/1zcIwhmdeo4/00001.wav\n",
                           r"iden_split.txt:2: expected '<1\|2\|3> <speaker>/<video>/<file>.wav', got '4 id1"),
                          ("1 id20001/abc/00001.wav\n", r"iden_split.txt:1: speaker 'id20001' is not a VoxCeleb1 id"),
                          ("1 id10001/1zcIwhmdeo4/00009.wav\n",
                           r"iden_split.txt:1: audio file id10001/1zcIwhmdeo4/00009.wav not found under .*VoxCeleb1/wav$")):
        put(tmp_path / "VoxCeleb1" / "iden_split.txt", text)
        with pytest.raises(BenchError, match=message):
            vox.read(tmp_path, "VoxCeleb1#train")


# -- ER ----------------------------------------------------------------------------------------------------------

EMO_HEADER = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
UTTERANCES = (("F000", "neu"), ("F001", "exc"), ("M000", "ang"), ("M001", "fru"), ("M002", "sad"), ("F002", "xxx"))


def _emo_line(dialog: str, utt: str, label: str) -> str:
    return (f"[6.2901 - 8.2357]\t{dialog}_{utt}\t{label}\t[2.5000, 2.5000, 2.5000]\n"
            f"C-E2:\tNeutral;\t()\nA-E3:\tval 3; act 2; dom  2;\t()\n\n")


@pytest.fixture()
def iemocap_root(tmp_path: Path) -> Path:
    for n in range(1, 6):
        session = tmp_path / "IEMOCAP_full_release" / f"Session{n}"
        dialog = f"Ses0{n}F_impro01"
        emo = session / "dialog" / "EmoEvaluation"
        put(emo / f"{dialog}.txt", EMO_HEADER + "".join(_emo_line(dialog, u, lab) for u, lab in UTTERANCES))
        put(emo / f"._{dialog}.txt", b"\x00\x05\x16\x07 Mac OS X resource fork \xff")  # skipped
        put(emo / "Categorical" / f"{dialog}_e1_cat.txt", f"{dialog}_F000 :Neutral state; ()\n")  # not read
        for utt, _ in UTTERANCES:
            put(session / "sentences" / "wav" / dialog / f"{dialog}_{utt}.wav")
    return tmp_path


def test_iemocap_folds_merge_exc_drop_others_and_dev_slice(iemocap_root: Path) -> None:
    er = sl.LAYOUTS["iemocap"]
    assert er.missing(iemocap_root, "IEMOCAP_full_release#test-fold1") is None
    clips, labels = er.read(iemocap_root, "IEMOCAP_full_release#test-fold1")
    assert [Path(c.path).name for c in clips] == [f"Ses01F_impro01_{u}.wav" for u in ("F000", "F001", "M000", "M002")]
    assert labels == ["neu", "hap", "ang", "sad"]  # exc -> hap; fru and xxx dropped
    assert rel(clips, iemocap_root)[0] == \
        "IEMOCAP_full_release/Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav"
    train, train_labels = er.read(iemocap_root, "IEMOCAP_full_release#train-fold1")
    dev, _ = er.read(iemocap_root, "IEMOCAP_full_release#dev-fold1")
    # the other four sessions (16 utterances): int(0.8 * 16) = 12 train, the 4 others for model selection
    assert len(train) == 12 and [Path(c.path).stem for c in dev] == [
        "Ses02F_impro01_F000", "Ses03F_impro01_M000", "Ses05F_impro01_F000", "Ses05F_impro01_M002"]
    pool = sorted(c.path for c in train + dev)
    assert pool == sorted(c.path for n in (2, 3, 4, 5) for c, _ in sl.Iemocap.session(
        iemocap_root / "IEMOCAP_full_release", n)) and not any("Session1" in p for p in pool)
    assert set(train_labels) == {"neu", "hap", "ang", "sad"}
    test5, _ = er.read(iemocap_root, "IEMOCAP_full_release#test-fold5")
    assert all("/Session5/" in c.path for c in test5) and len(test5) == 4


def test_iemocap_missing_and_errors(iemocap_root: Path) -> None:
    er = sl.LAYOUTS["iemocap"]
    with pytest.raises(BenchError, match=r"SELECTOR train-fold1 \| train-fold2"):
        er.missing(iemocap_root, "IEMOCAP_full_release#fold1")
    emo = iemocap_root / "IEMOCAP_full_release" / "Session3" / "dialog" / "EmoEvaluation"
    (emo / "Ses03F_impro01.txt").write_text(EMO_HEADER + _emo_line("Ses03F_impro01", "F000", "joy"))
    with pytest.raises(BenchError, match=r"Ses03F_impro01.txt:3: expected '\[start - end\]<TAB>utterance<TAB>"
                                         r"label<TAB>\[v, a, d\]' with label one of \['ang', "):
        er.read(iemocap_root, "IEMOCAP_full_release#test-fold3")
    (emo / "Ses03F_impro01.txt").write_text(EMO_HEADER + _emo_line("Ses03F_impro01", "F009", "neu"))
    with pytest.raises(BenchError, match=r"Ses03F_impro01.txt:3: audio file .*Ses03F_impro01_F009.wav not found"):
        er.read(iemocap_root, "IEMOCAP_full_release#train-fold1")
    for p in sorted(emo.rglob("*"), reverse=True):
        p.rmdir() if p.is_dir() else p.unlink()
    emo.rmdir()
    assert er.missing(iemocap_root, "IEMOCAP_full_release#test-fold1") == \
        "IEMOCAP_full_release/Session3/dialog/EmoEvaluation/"


# -- ASR / PR ----------------------------------------------------------------------------------------------------


@pytest.fixture()
def libri_root(tmp_path: Path) -> Path:
    subset = tmp_path / "LibriSpeech" / "dev-clean"
    chapters = {("84", "121123"): ["84-121123-0000 GO DO YOU HEAR", "84-121123-0001 BUT IN LESS THAN FIVE MINUTES"],
                ("1272", "128104"): ["1272-128104-0000 MISTER QUILTER IS THE APOSTLE"]}
    for (spk, chapter), lines in chapters.items():
        put(subset / spk / chapter / f"{spk}-{chapter}.trans.txt", "\n".join(lines) + "\n")
        for line in lines:
            put(subset / spk / chapter / f"{line.split()[0]}.flac", FLAC)
    put(tmp_path / "LibriSpeech" / "LICENSE.TXT", "CC BY 4.0\n")
    return tmp_path


LEXICON = """A\tAH0
A\tEY1
GO\tG OW1
DO\tD UW1
YOU\tY UW1
HEAR\tHH IY1 R
BUT\tB AH1 T
IN\tIH0 N
LESS\tL EH1 S
THAN\tDH AE1 N
FIVE\tF AY1 V
MINUTES\tM IH1 N AH0 T S
"""


def test_librispeech_transcripts(libri_root: Path) -> None:
    asr = sl.LAYOUTS["librispeech"]
    clips, labels = asr.read(libri_root, "LibriSpeech#dev-clean")
    assert rel(clips, libri_root) == ["LibriSpeech/dev-clean/1272/128104/1272-128104-0000.flac",
                                      "LibriSpeech/dev-clean/84/121123/84-121123-0000.flac",
                                      "LibriSpeech/dev-clean/84/121123/84-121123-0001.flac"]
    assert labels == ["MISTER QUILTER IS THE APOSTLE", "GO DO YOU HEAR", "BUT IN LESS THAN FIVE MINUTES"]
    assert asr.missing(libri_root, "LibriSpeech#dev-clean") is None
    assert asr.missing(libri_root, "LibriSpeech#test-clean") == "LibriSpeech/test-clean/"
    trans = libri_root / "LibriSpeech/dev-clean/84/121123/84-121123.trans.txt"
    trans.write_text("84-121123-0000 GO DO YOU HEAR\n84-121123-0001\n")
    with pytest.raises(BenchError, match=r"84-121123.trans.txt:2: expected '<speaker>-<chapter>-<n> TRANSCRIPT'"):
        asr.read(libri_root, "LibriSpeech#dev-clean")
    trans.write_text("84-121123-0007 GO\n")
    with pytest.raises(BenchError, match=r"84-121123.trans.txt:1: audio file .*84-121123-0007.flac not found"):
        asr.read(libri_root, "LibriSpeech#dev-clean")


def test_librispeech_phonemes_stress_oov_and_lexicon_priority(libri_root: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    pr, pr39 = sl.LAYOUTS["librispeech-phonemes"], sl.LAYOUTS["librispeech-phonemes-nostress"]
    assert pr.missing(libri_root, "LibriSpeech#dev-clean") == "librispeech-lexicon.txt"
    put(libri_root / "librispeech-lexicon.txt", LEXICON)
    assert pr.missing(libri_root, "LibriSpeech#dev-clean") is None
    with caplog.at_level(logging.WARNING, logger="benchmark.tasks.speech_layouts"):
        clips, labels = pr.read(libri_root, "LibriSpeech#dev-clean")
    # "MISTER QUILTER ..." has words the lexicon lacks: dropped, and said so
    assert [Path(c.path).stem for c in clips] == ["84-121123-0000", "84-121123-0001"]
    assert labels == ["G OW1 D UW1 Y UW1 HH IY1 R", "B AH1 T IH0 N L EH1 S DH AE1 N F AY1 V M IH1 N AH0 T S"]
    assert "dropped 1 of 3 utterances with a word missing from the lexicon (first: MISTER)" in caplog.text
    _, stripped = pr39.read(libri_root, "LibriSpeech#dev-clean")
    assert stripped[0] == "G OW D UW Y UW HH IY R"
    assert all(p in sl.PHONEMES_NO_STRESS for text in stripped for p in text.split())
    # s3prl's g2p lexicons, read first, cover the rest and win over OpenSLR's entries
    put(libri_root / "librispeech-lexicon-allothers-g2p.txt",
        "MISTER\tM IH1 S T ER0\nQUILTER\tK W IH1 L T ER0\nIS\tIH1 Z\nTHE\tDH AH0\nAPOSTLE\tAH0 P AA1 S AH0 L\n")
    put(libri_root / "librispeech-lexicon-200k-g2p.txt", "GO\tG OW2\n")
    caplog.clear()
    _, labels = pr.read(libri_root, "LibriSpeech#dev-clean")
    assert labels[0] == "M IH1 S T ER0 K W IH1 L T ER0 IH1 Z DH AH0 AH0 P AA1 S AH0 L"
    assert labels[1].startswith("G OW2 D UW1") and not caplog.text
    put(libri_root / "librispeech-lexicon-200k-g2p.txt", "GO\tG OW2\nHEAR\tHH IY9 R\n")
    with pytest.raises(BenchError, match=r"librispeech-lexicon-200k-g2p.txt:2: expected 'WORD PHONEME...' with "
                                         r"ARPAbet phonemes \(stress digits on vowels\), got 'HEAR\\tHH IY9 R'$"):
        pr.read(libri_root, "LibriSpeech#dev-clean")
    assert len(sl.PHONEMES) == 69 and len(sl.PHONEMES_NO_STRESS) == 39


def test_every_layout_is_described() -> None:
    assert sorted(sl.LAYOUTS) == ["audio-snips", "fluent-speech-commands", "iemocap", "librimix", "librispeech",
                                  "librispeech-phonemes", "librispeech-phonemes-nostress", "quesst14",
                                  "speech-commands", "voxceleb1", "voxceleb1-verification"]
    assert all(layout.description for layout in sl.LAYOUTS.values())
    assert sl.ER_LABELS == ["neu", "hap", "ang", "sad"] and len(sl.KS_LABELS) == 12
