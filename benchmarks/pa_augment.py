"""PA: bench's batched SimCLR/BYOL augmentations ÷ torchvision's transforms v2 applied image by image (what a
per-image pipeline costs), on the same digits batch at the same settings; and both ÷ one training step of the
ResNet-18 they feed. Prints medians of 5 runs.

    python benchmarks/pa_augment.py [--json FILE]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_json  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path, help="write the figures here (benchmarks/regenerate.py reads them)")
    args = ap.parse_args()
    from torchvision.transforms import v2

    from downstreams.recipes.images import digits_splits
    from upstreams.resnet_encoder import ResNetSpec
    from upstreams.ssl_image import Augment

    torch.set_num_threads(2)
    x = torch.from_numpy(np.stack(digits_splits()["train"].inputs[:256]))  # (256, 1, 8, 8)
    spec = ResNetSpec()
    batched = Augment(spec, flip=False)
    per_image = v2.Compose([v2.RandomResizedCrop(spec.image_size, scale=(0.25, 1.0), antialias=True),
                            v2.RandomApply([v2.ColorJitter(0.4, 0.4)], p=0.8),
                            v2.RandomApply([v2.GaussianBlur(3, sigma=(0.1, 1.0))], p=0.5)])
    model = spec.build().to(memory_format=torch.channels_last)
    gen = torch.Generator().manual_seed(0)

    def run_batched() -> None:
        batched(x, gen)

    def run_per_image() -> None:
        for _ in range(2):  # two views
            torch.stack([per_image(img) for img in x])

    def run_step() -> None:
        v1, v2_ = batched(x, gen)
        out = model(torch.cat([v1, v2_]).contiguous(memory_format=torch.channels_last))
        out.sum().backward()

    def median_time(fn: object, n: int = 5) -> float:
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()  # type: ignore[operator]
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    a, b, s = median_time(run_batched), median_time(run_per_image), median_time(run_step)
    print(f"two views of 256 digits: batched {a * 1000:.1f} ms, torchvision per image {b * 1000:.1f} ms")
    print(f"PA batched ÷ per-image: {a / b:.3f}")
    print(f"augmentation share of a training step (forward + backward of 512 views): batched {a / s:.3f}, "
          f"per image {b / s:.3f}")
    write_json(args.json, {"PA": a / b}, 5, milliseconds={"batched": a * 1000, "per_image": b * 1000, "step": s * 1000})


if __name__ == "__main__":
    main()
