"""The ResNet image encoder behind the `simclr` and `byol` upstreams: a torchvision ResNet whose stem and four
stages are the layers, with weights from a local checkpoint file. Imported only when a job builds one.

Loading never runs code from the file (upstreams/checkpoint_files.py). Accepted layouts: a torchvision ResNet
state dict (`conv1.weight`, `layer1.0.conv1.weight`, ..., an `fc` classifier is dropped), and the backbone
inside a SimCLR / BYOL training checkpoint under any prefix (`backbone.`, `encoder.`, `online_encoder.net.`,
`module.encoder_q.`, nested under `state_dict` / `model`...): projection heads, predictors and the EMA target
network are dropped (the online network wins over `target` / `momentum` / `teacher` copies). The architecture
(block type, depth, width, groups, input channels, stem) is read from the tensors' shapes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from benchmark.errors import BenchError
from benchmark.media.image import IMAGENET_MEAN, IMAGENET_STD, stage_states, to_batch
from benchmark.types import HiddenStates
from upstreams.checkpoint_files import file_sha256, flat_tensors, safe_load
from upstreams.hf_text import HFEncoder, variant_suffix

NAMED = {"resnet18": ("basic", (2, 2, 2, 2)), "resnet34": ("basic", (3, 4, 6, 3)),
         "resnet50": ("bottleneck", (3, 4, 6, 3)), "resnet101": ("bottleneck", (3, 4, 23, 3)),
         "resnet152": ("bottleneck", (3, 8, 36, 3))}
_SECONDARY = re.compile(r"(target|momentum|teacher|ema|encoder_k|key_encoder)", re.IGNORECASE)
META_KEY = "bench"
"""Where bench's own checkpoints keep their metadata (architecture, preprocessing, the pretraining loss curve)."""


@dataclass(frozen=True)
class ResNetSpec:
    """A torchvision ResNet plus the input it expects. The default is what `bench pretrain` trains on digits."""

    block: Literal["basic", "bottleneck"] = "basic"
    layers: tuple[int, ...] = (2, 2, 2, 2)
    groups: int = 1
    width_per_group: int = 64
    stem: Literal["imagenet", "cifar"] = "cifar"
    """imagenet: 7x7 stride-2 convolution and 3x3 stride-2 max-pool; cifar: 3x3 stride-1 convolution, no pool
    (SimCLR's CIFAR-10 variant, for small images)."""
    channels: int = 1
    image_size: int = 8
    mean: tuple[float, ...] = (0.5,)
    std: tuple[float, ...] = (0.5,)

    @property
    def arch(self) -> str:
        for name, (block, layers) in NAMED.items():
            if (block, layers) == (self.block, tuple(self.layers)) and self.groups == 1 and self.width_per_group == 64:
                return name
        return f"resnet({self.block}, {list(self.layers)}, groups {self.groups}, width {self.width_per_group})"

    @property
    def width(self) -> int:
        """Channels of the last stage: the representation's size."""
        return 512 * (4 if self.block == "bottleneck" else 1)  # a bottleneck's output is 4x its planes, any width

    def build(self) -> nn.Module:
        """The torchvision ResNet, classifier removed; random weights drawn from torch's global generator."""
        from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

        block = BasicBlock if self.block == "basic" else Bottleneck
        model = ResNet(block, list(self.layers), groups=self.groups, width_per_group=self.width_per_group)
        if self.stem == "cifar":
            model.conv1 = nn.Conv2d(self.channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
            model.maxpool = nn.Identity()
        elif self.channels != 3:
            model.conv1 = nn.Conv2d(self.channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        model.fc = nn.Identity()
        return model

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "layers": list(self.layers), "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ResNetSpec:
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise BenchError(f"its bench metadata names an unknown architecture field '{unknown[0]}'")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def spec_from_state(state: dict[str, torch.Tensor]) -> ResNetSpec:
    """The architecture a torchvision-layout ResNet state dict was saved from, read from its shapes."""
    conv1 = state.get("conv1.weight")
    if conv1 is None or conv1.ndim != 4:
        raise BenchError("no conv1.weight: not a torchvision ResNet")
    if conv1.shape[0] != 64:
        raise BenchError(f"its stem has {conv1.shape[0]} channels; torchvision's ResNet has 64 (width-multiplied "
                         "SimCLR 2x/4x networks are not torchvision ResNets)")
    stem = {7: "imagenet", 3: "cifar"}.get(int(conv1.shape[-1]))
    if stem is None:
        raise BenchError(f"its stem convolution is {conv1.shape[-1]}x{conv1.shape[-1]}; expected 7x7 (ImageNet) or "
                         "3x3 (CIFAR variant)")
    layers = []
    for stage in range(1, 5):
        blocks = {int(m.group(1)) for k in state if (m := re.match(rf"layer{stage}\.(\d+)\.", k))}
        if not blocks:
            raise BenchError(f"no layer{stage}.* tensors: not a four-stage torchvision ResNet")
        layers.append(max(blocks) + 1)
    bottleneck = "layer1.0.conv3.weight" in state
    groups, width_per_group = 1, 64
    if bottleneck:
        width = int(state["layer1.0.conv1.weight"].shape[0])
        groups = width // int(state["layer1.0.conv2.weight"].shape[1])
        width_per_group = width // groups
    big = stem == "imagenet"
    return ResNetSpec(block="bottleneck" if bottleneck else "basic", layers=tuple(layers), groups=groups,
                      width_per_group=width_per_group, stem=stem, channels=int(conv1.shape[1]),  # type: ignore[arg-type]
                      image_size=224 if big else 32,
                      mean=IMAGENET_MEAN if int(conv1.shape[1]) == 3 else (0.5,) * int(conv1.shape[1]),
                      std=IMAGENET_STD if int(conv1.shape[1]) == 3 else (0.5,) * int(conv1.shape[1]))


def backbone_prefix(keys: Sequence[str]) -> str:
    """The prefix under which a ResNet backbone sits ('' for a bare state dict); the online network is preferred
    to an EMA / momentum copy, then the shortest prefix."""
    have = set(keys)
    found = [k[: -len("conv1.weight")] for k in keys
             if k.endswith("conv1.weight") and k[: -len("conv1.weight")] + "layer1.0.conv1.weight" in have]
    if not found:
        raise BenchError("no ResNet backbone in it (looked for conv1.weight beside layer1.0.conv1.weight under any "
                         "prefix)")
    return min(found, key=lambda p: (bool(_SECONDARY.search(p)), len(p), p))


@dataclass
class Checkpoint:
    """A ResNet backbone read from a file: its state dict (torchvision keys), architecture and where it sat."""

    state: dict[str, torch.Tensor]
    spec: ResNetSpec
    prefix: str
    meta: dict[str, Any] = field(default_factory=dict)


def read_checkpoint(path: Path) -> Checkpoint:
    obj = safe_load(path)
    meta: dict[str, Any] = {}
    if isinstance(obj, dict) and isinstance(obj.get(META_KEY), dict):
        meta = obj[META_KEY]
    flat = flat_tensors(obj)
    if not flat:
        raise BenchError(f"it holds {type(obj).__name__} with no tensors: not a checkpoint")
    prefix = backbone_prefix(list(flat))
    state = {k[len(prefix):]: v.float() if v.is_floating_point() else v for k, v in flat.items()
             if k.startswith(prefix) and not k[len(prefix):].startswith("fc.")}
    state = {k: v for k, v in state.items() if re.match(r"(conv1|bn1|layer[1-4])\.", k)}
    spec = ResNetSpec.from_json(meta["spec"]) if "spec" in meta else spec_from_state(state)
    return Checkpoint(state, spec, prefix, meta)


def load_weights(model: nn.Module, state: dict[str, torch.Tensor], spec: ResNetSpec) -> None:
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as err:
        found = re.search(r"size mismatch for (\S+): copying a param with shape torch.Size\((\[.*?\])\)", str(err))
        detail = f"{found.group(1)} is {found.group(2)} in the file" if found else str(err).strip().splitlines()[-1]
        raise BenchError(f"its tensors do not fit {spec.arch}: {detail}") from None
    missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
    if missing or result.unexpected_keys:
        what = (f"missing {', '.join(missing[:3])}" if missing else
                f"unexpected {', '.join(result.unexpected_keys[:3])}")
        raise BenchError(f"its backbone is not torchvision's {spec.arch} layout ({what})")


class ResNetUpstream(HFEncoder):
    """A ResNet on images: the stem (conv1, bn, relu, max-pool) is layer 0 and each of the four stages a layer,
    as `benchmark.media.image.stage_states` lays them out (each pooled to the last stage's grid, channels zero-padded
    to the last stage's width). Inputs are float CHW in [0, 1] of any size and 1 or 3 channels; each is
    resized and normalised as the checkpoint says (bench's own files record it; other files: ImageNet
    statistics, 224 px for the ImageNet stem, 32 px for the CIFAR stem)."""

    modality, sample_rate = "image", None

    def __init__(self, path: str | None, *, name: str, method: str, spec: ResNetSpec | None = None) -> None:
        """path None: the default architecture (or `spec`), with random weights."""
        super().__init__()
        self.name, self.method = name, method
        ckpt = None
        try:
            if path is not None:
                ckpt = read_checkpoint(Path(path).expanduser())
                spec = ckpt.spec
            self.spec = spec or ResNetSpec()
            self.model = self.spec.build()
            if ckpt is not None:
                load_weights(self.model, ckpt.state, self.spec)
        except BenchError as err:
            raise BenchError(f"cannot load {method} checkpoint '{path}': {err}") from None
        self.model.eval()
        self.source = (f"{path} ({self.spec.arch}, backbone at '{ckpt.prefix or '(top level)'}')" if ckpt
                       else f"{self.spec.arch} (random)")
        self.pretraining = pretraining_summary(ckpt.meta) if ckpt else None
        self.num_layers = 4
        self.hidden_size = self.spec.width
        self.n_parameters = sum(p.numel() for p in self.model.parameters())
        self._base_fingerprint = (f"resnet:{json.dumps(self.spec.to_json(), sort_keys=True)}:"
                                  + (f"sha256:{file_digest(path)}" if path else "random"))
        self._variant = ""

    def reinitialize(self, scope: Literal["all", "embeddings"], seed: int) -> None:
        """'all': same architecture, random weights (+rand). 'embeddings': a new stem (+re-emb)."""
        if scope not in ("all", "embeddings"):
            raise ValueError(f"unknown reinitialize scope {scope!r}")
        torch.manual_seed(seed)
        fresh = self.spec.build().to(self.device)
        with torch.no_grad():
            if scope == "all":
                self.model.load_state_dict(fresh.state_dict())
            else:
                self.model.conv1.load_state_dict(fresh.conv1.state_dict())
                self.model.bn1.load_state_dict(fresh.bn1.state_dict())
        if scope == "all":
            self.pretraining = None
        self._variant += variant_suffix(scope, seed)

    def stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """A normalised (batch, channels, size, size) tensor -> [stem, stage1, ..., stage4] maps."""
        m = self.model
        x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
        maps = [x]
        for stage in (m.layer1, m.layer2, m.layer3, m.layer4):
            x = stage(x)
            maps.append(x)
        return maps

    def forward(self, inputs: Sequence[Any]) -> HiddenStates:
        if not inputs:
            raise ValueError("empty batch")
        s = self.spec
        x = to_batch(inputs, s.image_size, s.channels, s.mean, s.std, self.device)
        return stage_states(self.stages(x), self.hidden_size)


def file_digest(path: str) -> str:
    return file_sha256(Path(path).expanduser())[:16]


def pretraining_summary(meta: dict[str, Any]) -> dict[str, Any] | None:
    """What a result records about how bench pretrained the checkpoint (method, data, epochs, loss curve)."""
    if not meta:
        return None
    keep = ("method", "data", "epochs", "batch_size", "seed", "loss", "loss_curve", "seconds")
    return {k: meta[k] for k in keep if k in meta}
