"""Speech upstreams plugin: `fbank` and `mfcc` (SUPERB's baselines) and the Hugging Face speech encoders
`wav2vec2`, `hubert`, `wavlm`, `data2vec-audio` (any checkpoint id or local directory as NAME:ID_OR_PATH), and
`torchaudio:ARCH:PATH`, torchaudio's model builders with a local state-dict file (upstreams/torchaudio_speech.py).

The seed variants work offline with no checkpoint at all: `wav2vec2+rand` is the family's base architecture
(transformers' config defaults) with random weights, drawn with bench's fixed variant seed.
"""

from __future__ import annotations

from typing import Any

from benchmark.hookspecs import hookimpl
from upstreams.torchaudio_speech import TorchaudioSpeechFactory

DEFAULTS = {"wav2vec2": "facebook/wav2vec2-base", "hubert": "facebook/hubert-base-ls960",
            "wavlm": "microsoft/wavlm-base-plus", "data2vec-audio": "facebook/data2vec-audio-base"}


class FilterbankFactory:
    def __init__(self, kind: str, normalise: bool = True) -> None:
        self.kind, self.normalise = kind, normalise

    def fingerprint(self, arg: str | None, scopes: tuple[str, ...], seed: int) -> str | None:
        from upstreams.hf_speech import filterbank_fingerprint

        return None if scopes else filterbank_fingerprint(self.kind, self.normalise)

    def __call__(self, arg: str | None, *, name: str, trust_remote_code: bool = False) -> Any:
        from benchmark.errors import BenchError
        from upstreams.hf_speech import FilterbankUpstream

        if arg:
            raise BenchError(f"upstream '{name}' takes no argument (got '{arg}')")
        return FilterbankUpstream(self.kind, name=name, normalise=self.normalise)  # type: ignore[arg-type]


class SpeechModelFactory:
    """Builds an HFSpeechUpstream; with +rand, from the checkpoint's config (or the family's defaults) alone."""

    def __init__(self, family: str) -> None:
        self.family = family

    def missing(self, arg: str | None, modifiers: tuple[str, ...] = ()) -> str | None:
        from upstreams.text import model_missing

        if arg is None and "rand" in modifiers:
            return None  # the family's default architecture, no download
        return model_missing(arg or DEFAULTS[self.family], self.family,
                             f", or use {self.family}+rand for the untrained architecture")

    def needs(self, arg: str | None, modifiers: tuple[str, ...] = ()) -> list[Any]:
        """What `bench prefetch` fetches: the Hub checkpoint (nothing for +rand of the family's defaults)."""
        from upstreams.text import hub_model_needs

        if arg is None and "rand" in modifiers:
            return []
        return hub_model_needs(arg or DEFAULTS[self.family], self.family, f", or use {self.family}+rand for the "
                               "untrained architecture")

    def fingerprint(self, arg: str | None, scopes: tuple[str, ...], seed: int) -> str | None:
        from upstreams.hf_speech import CONFIG_CLASSES, config_fingerprint, default_config
        from upstreams.hf_text import HFTextUpstream, variant_suffix

        suffix = "".join(variant_suffix(s, seed) for s in scopes)
        if arg is None and "all" in scopes:
            return f"config:{CONFIG_CLASSES[self.family]}:{config_fingerprint(default_config(self.family))}{suffix}"
        base = HFTextUpstream.describe_source(arg or DEFAULTS[self.family])
        if base.endswith("@unknown"):
            return None
        return (f"config-of:{base}" if "all" in scopes else base) + suffix

    def __call__(self, arg: str | None, *, name: str, trust_remote_code: bool = False,
                 modifiers: tuple[str, ...] = ()) -> Any:
        from upstreams.hf_speech import HFSpeechUpstream

        rand = "rand" in modifiers
        source = None if (arg is None and rand) else (arg or DEFAULTS[self.family])
        return HFSpeechUpstream(self.family, source, name=name, trust_remote_code=trust_remote_code,
                                from_config=rand)


@hookimpl
def register_upstreams(register: Any) -> None:
    register("fbank", FilterbankFactory("fbank"), modality="speech",
             description="80-bin log-mel filterbank + deltas, per-utterance CMVN (Kaldi-compatible, s3prl's fbank); "
                         "SUPERB's zero point")
    register("mfcc", FilterbankFactory("mfcc"), modality="speech",
             description="13 MFCCs + deltas, per-utterance CMVN (Kaldi-compatible, s3prl's mfcc)")
    register("fbank_no_cmvn", FilterbankFactory("fbank", normalise=False), modality="speech",
             description="fbank without CMVN (s3prl's fbank_no_cmvn; bench's fbank before 2026-12-06)")
    register("mfcc_no_cmvn", FilterbankFactory("mfcc", normalise=False), modality="speech",
             description="mfcc without CMVN: the features HuBERT's first iteration clusters (bench's mfcc before "
                         "2026-12-06)")
    for family, checkpoint in DEFAULTS.items():
        register(family, SpeechModelFactory(family), modality="speech",
                 description=f"{family} encoder ({checkpoint} from the Hub; {family}:ID_OR_PATH; "
                             f"{family}+rand works offline)")
    register("torchaudio", TorchaudioSpeechFactory(), modality="speech",
             description="torchaudio's wav2vec2 / HuBERT / WavLM builders with a local state-dict file: "
                         "torchaudio:ARCH:PATH (ARCH e.g. wav2vec2_base, hubert_large, wavlm_base); "
                         "torchaudio:ARCH+rand needs no file")
