"""Apply and restore time of a restorable model's network on a 640x480 photo, each path beside
the eager float32 baseline measured in the same run.

    python benchmarks/bench_model.py --op l0 [--device cuda] [--repeats 7] [--threads N]
        [--json results/bench_model.json] [--note "this 2-core machine, idle"] [--docs]
    python benchmarks/bench_model.py --from-json results/bench_model.json --docs

Paths, timed in interleaved rounds (so a busy machine slows them alike), median and fastest:

    eager fp32        the network as trained: NCHW float32 (the baseline)
    fp32 (load(..., precision="fp32"))   channels-last float32
    auto (load(...), the default)        channels-last; apply in bf16 where the device has it
                                         natively, restore in float32
    bf16 (load(..., precision="bf16"))   channels-last, bf16 apply and restore

The network alone (apply: φ, ψ, H; restore: H⁻¹, φ⁻¹); then the guide (the classic operator a
guided model reads, on the CPU) and the whole ``apply``/``restore`` of the default model, with
restore's time as a fraction of the classic operator's.

``--json`` keeps the figures as a dated record in results/bench_model.json (replacing the one of
the same model on the same device), beside ``bench_operators.py --json``'s; ``--docs`` writes
the tables of docs/results.md (Speed) from that file: the network on the CPU and on GPUs, and
the classic operators against the learned models (``OP-learned``) that need none.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import bench_records
import numpy as np

SAMPLE = Path(__file__).parents[1] / "src" / "restorable" / "samples" / "scikit-image__coffee.jpg"
RESULTS = bench_records.ROOT / "results" / "bench_model.json"
# the paths a record keeps, in the tables' order, as the docs call them
PATHS = {
    "eager fp32": "eager float32 (same run)",
    "fp32 channels-last": "float32, channels-last",
    "auto": "default (bf16 apply, float32 restore)",
    "bf16 (apply and restore)": "bf16 both ways",
}
PAGE = "results.md"  # in docs/
NETWORK = ("<!-- bench-model:start -->", "<!-- bench-model:end -->")
NETWORK_GPU = ("<!-- bench-model-gpu:start -->", "<!-- bench-model-gpu:end -->")
LEARNED = ("<!-- learned-speed:start -->", "<!-- learned-speed:end -->")


def photo_640x480() -> np.ndarray:
    from restorable.data.pairs import resize_max_side
    from restorable.files import read_image

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
    """{path: (model, net, memory format)}: the baseline and the precisions of ``load``, the
    default (``auto``) last."""
    import torch

    from restorable.models import load

    auto = load(op, weights, device=device)
    fp32 = load(op, weights, device=device, precision="fp32")
    eager = copy.deepcopy(fp32.net).to(memory_format=torch.contiguous_format)
    bf16 = load(op, weights, device=device, precision="bf16")
    return {
        "eager fp32": (fp32, eager, torch.contiguous_format),
        "fp32 channels-last": (fp32, fp32.net, torch.channels_last),
        "bf16 (apply and restore)": (bf16, bf16.net, torch.channels_last),
        "auto": (auto, auto.net, torch.channels_last),
    }


def measure(args: argparse.Namespace) -> dict:
    """Time every path and the whole default model; print them; return the record."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    img = photo_640x480()
    x = img.astype(np.float32) / 255
    cuda = torch.device(args.device).type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    paths = network_paths(args.op, args.weights, args.device, img)
    auto = paths["auto"][0]
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
    native = auto.apply_dtype == torch.bfloat16
    print("| network path | apply (s) | speed-up | restore (s) | speed-up |")
    print("|---|---|---|---|---|")
    base_a, base_r = t[("apply", "eager fp32")][0], t[("restore", "eager fp32")][0]
    for name in paths:
        (a, a_min), (r, r_min) = t[("apply", name)], t[("restore", name)]
        label = name
        if name == "auto":
            label = "auto (bf16 apply, fp32 restore)" if native else "auto (fp32: no native bf16)"
        print(
            f"| {label} | {a:.3f} (fastest {a_min:.3f}) | {base_a / a:.2f}x "
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
    return {
        "script": "bench_model.py",
        **bench_records.stamp(args.note),
        "op": args.op,
        "version": auto.card.stem,
        "device": "cuda" if cuda else "cpu",
        "device_name": where,
        "repeats": args.repeats,
        "parameters_m": round(n / 1e6, 2),
        "auto_apply": "bf16" if native else "fp32",
        "network": {
            k: {"apply": list(t[("apply", k)]), "restore": list(t[("restore", k)])} for k in paths
        },
        "whole": {k: list(v) for k, v in w.items()},
    }


def _models(records: list[dict], gpu: bool) -> list[dict]:
    return [
        r
        for r in records
        if r.get("script") == "bench_model.py"
        and r.get("network")
        and (r["device"] != "cpu") == gpu
    ]


def _whole_line(r: dict) -> str:
    """One model's whole ``apply``/``restore`` (and its classic operator) and where from."""
    whole = r.get("whole", {})
    parts = [
        f"whole `{k}` {bench_records.secs(whole[k])} s" for k in ("apply", "restore") if k in whole
    ]
    if "classic operator" in whole:
        parts.append(f"classic operator {bench_records.secs(whole['classic operator'])} s")
        if "restore" in whole:
            ratio = whole["restore"][0] / whole["classic operator"][0]
            parts.append(f"restore {ratio:.2f}× the classic operator")
    size = f" ({r['parameters_m']:.2f} M parameters)" if r.get("parameters_m") else ""
    return f"- `{r['op']}`{size}: {', '.join(parts)}; {bench_records.provenance(r)}."


def network_tables(records: list[dict], gpu: bool = False) -> str:
    """The network at 640×480, one table per device (a column pair per model, medians and, where
    kept, the fastest run in brackets), then each model's whole apply and restore."""
    out = []
    devices = list(dict.fromkeys(r["device_name"] for r in _models(records, gpu)))
    for device in devices:
        group = [r for r in _models(records, gpu) if r["device_name"] == device]
        paths = [p for p in PATHS if any(p in r["network"] for r in group)]
        head = [f"network, 640×480, {device}"]
        for r in group:
            head += [f"`{r['op']}` apply (s)", f"`{r['op']}` restore (s)"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for path in paths:
            label = PATHS[path]
            if path == "auto" and group[0].get("auto_apply") == "fp32":
                label = "default (float32: no native bf16)"
            cells = [label]
            for r in group:
                times = r["network"].get(path, {})
                cells += [bench_records.secs(times.get(k)) for k in ("apply", "restore")]
            lines.append("| " + " | ".join(cells) + " |")
        out += ["\n".join(lines), "\n".join(_whole_line(r) for r in group)]
    return "\n\n".join(out)


def learned_table(records: list[dict]) -> str:
    """Each classic operator (``bench_operators.py``) beside its learned model's whole apply and
    restore on the CPU (``bench_model.py --op OP-learned``), with the speed-up."""
    ops = next((r for r in records if r.get("script") == "bench_operators.py"), None)
    if ops is None:
        return ""
    learned = {
        r["op"]: r
        for r in records
        if r.get("script") == "bench_model.py"
        and r["device"] == "cpu"
        and "apply" in r.get("whole", {})
    }
    lines = [
        "| operator | classic operator (s) | `OP-learned` apply (s) | speed-up "
        "| `OP-learned` restore (s) |",
        "|---|---|---|---|---|",
    ]
    shown = [ops]
    for op, classic in ops["operators"].items():
        r = learned.get(f"{op}-learned")
        if r is None:
            continue
        shown.append(r)
        apply, restore = r["whole"]["apply"][0], r["whole"].get("restore", [None])[0]
        variant = f" ({r['variant']})" if r.get("variant") else ""
        lines.append(
            f"| {op} | {classic:.3f} | {apply:.3f}{variant} | {classic / apply:.1f}× "
            f"| {'–' if restore is None else f'{restore:.3f}'} |"
        )
    seen: dict[str, None] = {}
    for r in shown:  # one line per command, the learned models' as ``--op OP-learned``
        generic = dict(r, command=r["command"].replace(f"--op {r.get('op')}", "--op OP-learned"))
        seen.setdefault(f"- {bench_records.provenance(generic)}.")
    return "\n".join(lines) + "\n\n" + "\n".join(seen)


def blocks(records: list[dict]) -> dict[tuple[str, str], str]:
    """{(start, end) markers in docs/results.md: the text between them}."""
    return {
        NETWORK: network_tables(records, gpu=False),
        NETWORK_GPU: network_tables(records, gpu=True),
        LEARNED: learned_table(records),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--op", default="l0")
    p.add_argument("--weights")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int)
    p.add_argument("--json", help="keep the figures in this file (results/bench_model.json)")
    p.add_argument("--note", help='what the machine was doing, e.g. "this 2-core machine, idle"')
    p.add_argument("--docs", action="store_true", help="write the tables into docs/results.md")
    p.add_argument("--from-json", help="render this file's records without measuring")
    args = p.parse_args()
    source = args.from_json or args.json or RESULTS
    if not args.from_json:
        record = measure(args)
        if args.json:
            bench_records.merge(args.json, record, ("script", "op", "device_name"))
            print(f"\nwrote {args.json}")
    if args.docs or args.from_json:
        for (start, end), text in blocks(bench_records.load(source)).items():
            if args.docs:
                bench_records.write_block(PAGE, start, end, text)
            else:
                print(f"{start}\n{text}\n{end}\n")


if __name__ == "__main__":
    main()
