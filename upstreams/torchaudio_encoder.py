"""torchaudio's wav2vec 2.0 / HuBERT / WavLM models (`torchaudio.models.wav2vec2_base`, ...) with weights from a
local state-dict file, under the upstream contract. Imported only when a job builds one.

Loading never runs code from the file: `torch.load(weights_only=True)` or safetensors. The model is built on
the meta device and the file's tensors are assigned to it, so no random initialisation is paid for weights
that are replaced anyway. Accepted layouts: torchaudio's own (`bundle.get_model().state_dict()`; a fine-tuned
model's CTC head `aux.*` is ignored) and fairseq's checkpoint keys (`ckpt['model']`), mapped with torchaudio's
own fairseq key map.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from benchmark.errors import BenchError
from benchmark.types import HiddenStates
from upstreams.checkpoint_files import safe_load
from upstreams.hf_text import HFEncoder, variant_suffix
from upstreams.torchaudio_archs import ARCHITECTURES, weights_fingerprint

SAMPLE_RATE = 16_000
_FAIRSEQ_PREFIXES = ("post_extract_proj.", "encoder.pos_conv.", "w2v_model.", "w2v_encoder.")
_HF_PREFIXES = ("wav2vec2.", "hubert.", "wavlm.", "data2vec_audio.", "feature_projection.", "masked_spec_embed")


def _a(noun: str) -> str:
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def read_state_file(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a state-dict file; BenchError (one line) for anything else."""
    obj = safe_load(path)
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict):
        raise BenchError(f"it holds {_a(type(obj).__name__)}, not a state dict (parameter name -> tensor; save "
                         "model.state_dict())")
    for key, value in obj.items():
        if not isinstance(value, torch.Tensor):
            raise BenchError(f"entry {key!r} is {_a(type(value).__name__)}, not a tensor: not a state dict (save "
                             "model.state_dict(), alone or under 'state_dict' or 'model')")
    return obj


def to_torchaudio_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """fairseq keys mapped to torchaudio's; training-only entries (CTC head, quantizer, mask embedding) dropped."""
    if any(k.startswith(_FAIRSEQ_PREFIXES) for k in state):
        try:
            from torchaudio.models.wav2vec2.utils.import_fairseq import _map_key
        except ImportError:
            raise BenchError("it has fairseq-style keys, and this torchaudio has no fairseq key map to read them; "
                             "convert them to torchaudio's layout") from None
        converted = {}
        for key, value in state.items():
            try:
                mapped = _map_key(key.removeprefix("w2v_encoder."))
            except ValueError:
                raise BenchError(f"fairseq-style key {key!r} has no torchaudio counterpart") from None
            if mapped is not None and mapped != "label_embs_concat":
                converted[mapped] = value
        state = converted
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items() if not k.startswith("aux.")}


def _examples(keys: Sequence[str], n: int = 3) -> str:
    more = f", ... ({len(keys)} in all)" if len(keys) > n else ""
    return ", ".join(list(keys)[:n]) + more


def assign_weights(model: nn.Module, state: dict[str, torch.Tensor], arch: str) -> None:
    """Give the meta-device model the file's tensors; BenchError naming a few keys when the layout differs."""
    try:
        result = model.load_state_dict(state, strict=False, assign=True)
    except RuntimeError as err:
        found = re.search(r"size mismatch for (\S+): copying a param with shape torch.Size\((\[.*?\])\) from "
                          r"checkpoint, the shape in current model is torch.Size\((\[.*?\])\)", str(err))
        if not found:
            raise BenchError(f"its tensors do not fit torchaudio's {arch}: {str(err).strip().splitlines()[-1]}") from None
        key, have, want = found.groups()
        raise BenchError(f"its tensors are not torchaudio's {arch} architecture: {key} is {have} in the file, "
                         f"{want} in {arch} (is ARCH right?)") from None
    missing, unexpected = result.missing_keys, result.unexpected_keys
    if missing or unexpected:
        parts = ([f"missing {_examples(missing)}"] if missing else []) + (
            [f"unexpected {_examples(unexpected)}"] if unexpected else [])
        hint = ""
        if any(k.startswith(_HF_PREFIXES) for k in unexpected):
            hint = "; a Hugging Face checkpoint loads with wav2vec2:DIR, hubert:DIR or wavlm:DIR"
        raise BenchError(f"its keys are not torchaudio's {arch} layout ({'; '.join(parts)}); expected the keys of "
                         f"torchaudio.models.{arch}().state_dict(), as torch.save(bundle.get_model().state_dict(), "
                         f"PATH) writes them, or fairseq's checkpoint['model']{hint}")
    if any(t.is_meta for t in [*model.parameters(), *model.buffers()]):
        raise BenchError(f"the file leaves some of torchaudio's {arch} tensors without a value")


class TorchaudioSpeechUpstream(HFEncoder):
    """A torchaudio wav2vec 2.0 / HuBERT / WavLM model: raw 16 kHz waveform in; the feature projection's output
    (layer 0, the input of the transformer's positional convolution, as s3prl takes it) and each transformer
    layer's output as `extract_features` returns them out (so the pre-LN large models' final encoder layer norm,
    which only `forward` applies, is not in the last layer; the weighted sum over layers can learn a scale).

    Input normalisation follows torchaudio's pipeline bundles: the layer-normalised feature encoders (the large
    LV-60k / HuBERT / WavLM models) get zero-mean unit-variance waveforms, the group-normalised base ones the raw
    waveform. Normalisation is per item (the bundles normalise the whole padded batch at once, which would make
    an item's features depend on its batch). Group norm normalises over the whole input, padding included, and
    torchaudio's WavLM takes no padding mask: those run items of different lengths in separate batches.
    """

    modality, sample_rate = "speech", SAMPLE_RATE

    def __init__(self, arch: str, path: str | None, *, name: str) -> None:
        """path None: the architecture only (meta device); reinitialize('all', seed) must draw its weights."""
        super().__init__()
        self.arch, self.name = arch, name
        with torch.device("meta"):
            model = ARCHITECTURES[arch]()
        if path is not None:
            file = Path(path).expanduser()
            try:
                assign_weights(model, to_torchaudio_layout(read_state_file(file)), arch)
            except BenchError as err:
                raise BenchError(f"cannot load torchaudio model {arch} from '{path}': {err}") from None
        self.model = model.eval()
        self._has_weights = path is not None
        self.source = f"torchaudio.models.{arch}() + {path}" if path else f"torchaudio.models.{arch}() (random)"
        convs = self.model.feature_extractor.conv_layers
        first_norm = convs[0].layer_norm
        self.normalize = isinstance(first_norm, nn.LayerNorm)
        layers = self.model.encoder.transformer.layers
        wavlm = type(layers[0].attention).__name__ == "WavLMSelfAttention"
        self.pads_safely = not isinstance(first_norm, nn.GroupNorm) and not wavlm
        self.num_layers = len(layers)
        self.hidden_size = int(self.model.encoder.feature_projection.projection.out_features)
        self.downsample_rate = int(np.prod([c.stride for c in convs]))
        self.n_parameters = sum(p.numel() for p in self.model.parameters())
        self._base_fingerprint, self._variant = weights_fingerprint(arch, path), ""

    @property
    def device(self) -> torch.device:
        dev = super().device
        return torch.device("cpu") if dev.type == "meta" else dev

    def reinitialize(self, scope: Literal["all", "embeddings"], seed: int) -> None:
        """'all': same architecture, random weights (+rand). 'embeddings': a new convolutional feature encoder and
        feature projection (+re-emb), the speech analogue of new word embeddings."""
        if scope not in ("all", "embeddings"):
            raise ValueError(f"unknown reinitialize scope {scope!r}")
        torch.manual_seed(seed)
        fresh = ARCHITECTURES[self.arch]().to(self.device)
        if scope == "all" or not self._has_weights:
            self.model = fresh.train(self.model.training)
            self._has_weights = True
        else:
            with torch.no_grad():
                self.model.feature_extractor.load_state_dict(fresh.feature_extractor.state_dict())
                self.model.encoder.feature_projection.load_state_dict(fresh.encoder.feature_projection.state_dict())
        self._variant += variant_suffix(scope, seed)

    def _prepare(self, wave: Any) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(wave, dtype=np.float32).reshape(-1))
        # What the bundles do (F.layer_norm over the waveform), per item.
        return nn.functional.layer_norm(x, x.shape) if self.normalize else x

    def _run(self, waves: Sequence[torch.Tensor]) -> HiddenStates:
        lengths = torch.tensor([w.numel() for w in waves])
        x = torch.zeros(len(waves), int(lengths.max()))  # (batch, samples)
        for i, w in enumerate(waves):
            x[i, : w.numel()] = w
        padded = bool((lengths < x.shape[1]).any())
        device = self.device
        projected: list[torch.Tensor] = []
        hook = self.model.encoder.feature_projection.register_forward_hook(lambda _m, _i, out: projected.append(out))
        try:
            layers, frames = self.model.extract_features(x.to(device), lengths.to(device) if padded else None)
        finally:
            hook.remove()
        t = layers[0].shape[1]
        if frames is None:
            frames = torch.full((len(waves),), t, device=device)
        mask = torch.arange(t, device=device)[None, :] < frames[:, None]  # (batch, frames)
        return HiddenStates(layers=(projected[0], *layers), mask=mask)  # padded frames of layer 0 are zeroed

    def forward(self, inputs: Sequence[Any]) -> HiddenStates:
        if not inputs:
            raise ValueError("empty batch")
        if not self._has_weights:
            raise RuntimeError(f"'{self.name}' has no weights yet: call reinitialize('all', seed)")
        waves = [self._prepare(w) for w in inputs]
        groups: dict[int, list[int]] = {}
        for i, w in enumerate(waves):
            groups.setdefault(1 if self.pads_safely else w.numel(), []).append(i)
        if len(groups) == 1:
            return self._run(waves)
        rows: list[tuple[list[torch.Tensor], torch.Tensor]] = [([], torch.zeros(0))] * len(waves)
        for idx in groups.values():  # equal lengths batch together; no padding reaches the model
            part = self._run([waves[i] for i in idx])
            for j, i in enumerate(idx):
                rows[i] = ([h[j] for h in part.layers], part.mask[j])
        t = max(m.shape[0] for _, m in rows)
        layers = tuple(torch.stack([nn.functional.pad(r[0][k], (0, 0, 0, t - r[1].shape[0])) for r in rows])
                       for k in range(self.num_layers + 1))
        mask = torch.stack([nn.functional.pad(m, (0, t - m.shape[0])) for _, m in rows])
        return HiddenStates(layers=layers, mask=mask)
