"""Apply and restore time of a restorable model's network on a 640x480 photo, each path beside
the eager float32 baseline measured in the same run.

    python benchmarks/bench_model.py --op l0 [--device cuda] [--repeats 7] [--threads N]

Paths, timed in interleaved rounds (so a busy machine slows them alike), median and fastest:

    eager fp32        the network as trained: NCHW float32 (the baseline)
    fp32 (load(..., precision="fp32"))   channels-last float32
    auto (load(...), the default)        channels-last; apply in bf16 where the device has it
                                         natively, restore in float32
    bf16 (load(..., precision="bf16"))   channels-last, bf16 apply and restore

The network alone (apply: φ, ψ, H; restore: H⁻¹, φ⁻¹); then the guide (the classic operator a
guided model reads, on the CPU) and the whole ``apply``/``restore`` of the default model, with
restore's time as a fraction of the classic operator's.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np
import torch

from restorable.data.pairs import resize_max_side
from restorable.files import read_image
from restorable.models import load

SAMPLE = Path(__file__).parents[1] / "src" / "restorable" / "samples" / "scikit-image__coffee.jpg"


def photo_640x480() -> np.ndarray:
    img = resize_max_side(read_image(SAMPLE), 640)
    h, w = min(480, img.shape[0]), min(640, img.shape[1])
    return np.pad(img, ((0, 480 - h), (0, 640 - w), (0, 0)), mode="reflect")[:480, :640]


def timed(fn, repeats: int, sync=lambda: None) -> float:
    """Median seconds of ``repeats`` calls after one warm-up."""
    return interleaved({"": fn}, repeats, sync)[""][0]


def interleaved(fns: dict, repeats: int, sync=lambda: None) -> dict[str, tuple[float, float]]:
    """{name: (median, fastest)} seconds, one call of each function per round."""
    for fn in fns.values():
        fn()  # warm-up
    sync()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            sync()
            times[k].append(time.perf_counter() - t)
    return {k: (float(np.median(v)), min(v)) for k, v in times.items()}


def network_paths(op: str, weights, device: str, img: np.ndarray) -> dict[str, tuple]:
    """{path: (model, net, memory format)}: the baseline and the two precisions of ``load``."""
    auto = load(op, weights, device=device)
    fp32 = load(op, weights, device=device, precision="fp32")
    eager = copy.deepcopy(fp32.net).to(memory_format=torch.contiguous_format)
    native = auto.apply_dtype == torch.bfloat16
    label = "auto (bf16 apply, fp32 restore)" if native else "auto (fp32: no native bf16)"
    bf16 = load(op, weights, device=device, precision="bf16")
    return {
        "eager fp32": (fp32, eager, torch.contiguous_format),
        "fp32 channels-last": (fp32, fp32.net, torch.channels_last),
        "bf16 (apply and restore)": (bf16, bf16.net, torch.channels_last),
        label: (auto, auto.net, torch.channels_last),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--op", default="l0")
    p.add_argument("--weights")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    img = photo_640x480()
    x = img.astype(np.float32) / 255
    cuda = torch.device(args.device).type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    paths = network_paths(args.op, args.weights, args.device, img)
    auto = list(paths.values())[-1][0]
    n = sum(p.numel() for p in auto.net.parameters())
    where = torch.cuda.get_device_name(0) if cuda else f"CPU, {torch.get_num_threads()} threads"
    print(f"{auto.card.stem}: {n / 1e6:.2f} M parameters, 640x480, {where}\n")

    guide = auto.guide(img)
    stored = auto.apply(img, tile=None)
    tensor = lambda a, fmt: (  # noqa: E731
        torch.from_numpy(a)[None].permute(0, 3, 1, 2).to(args.device).contiguous(memory_format=fmt)
    )
    apply_fns, restore_fns = {}, {}
    for name, (model, net, fmt) in paths.items():
        X, Y = tensor(x, fmt), tensor(stored.astype(np.float32) / 255, fmt)
        G = None if guide is None else tensor(guide.astype(np.float32) / 255, fmt)

        def run(model=model, net=net, X=X, G=G):
            with torch.no_grad(), model._autocast(model.apply_dtype):
                return net(X, G)

        def inv(model=model, net=net, Y=Y):
            with torch.no_grad(), model._autocast(model.restore_dtype):
                return net.inverse(Y)

        apply_fns[name], restore_fns[name] = run, inv
    fns = {("apply", k): f for k, f in apply_fns.items()}
    fns.update({("restore", k): f for k, f in restore_fns.items()})
    t = interleaved(fns, args.repeats, sync)
    print("| network path | apply (s) | speed-up | restore (s) | speed-up |")
    print("|---|---|---|---|---|")
    base_a, base_r = t[("apply", "eager fp32")][0], t[("restore", "eager fp32")][0]
    for name in paths:
        (a, a_min), (r, r_min) = t[("apply", name)], t[("restore", name)]
        print(
            f"| {name} | {a:.3f} (fastest {a_min:.3f}) | {base_a / a:.2f}x "
            f"| {r:.3f} (fastest {r_min:.3f}) | {base_r / r:.2f}x |"
        )

    # the whole default model: guide (classic operator, CPU) + network, and restore
    whole = {
        "classic operator": lambda: auto.guide(img),
        "apply": lambda: auto.apply(img, tile=None),
        "restore": lambda: auto.restore(stored, tile=None),
    }
    if guide is None:
        del whole["classic operator"]
    w = interleaved(whole, args.repeats, sync)
    print()
    for k, (med, fastest) in w.items():
        print(f"{k}: {med:.3f} s (fastest {fastest:.3f})")
    if guide is not None:
        ratio = w["restore"][0] / w["classic operator"][0]
        print(f"restore / classic operator: {ratio:.2f}")


if __name__ == "__main__":
    main()
