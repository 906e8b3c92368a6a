"""The web page under load: N clients applying and restoring at once, for a bounded time.

    python benchmarks/bench_web_load.py [--clients 8] [--seconds 180] [--large-mp 0]
        [--op l0] [--json results/web_load.json]

Starts ``restorable serve`` on 127.0.0.1 (a free port, its own GRADIO_TEMP_DIR), warms it up
(one Apply and one Restore per photo, so every model and code path is loaded, then all the
clients at once for ``--warmup-seconds``, so the server's worker threads and their memory
pools exist), then runs ``--clients`` threads, each with its own ``gradio_client.Client``,
for ``--seconds``: Apply a photo (one of the bundled samples, drawn by a seeded generator, or
a photo of ``--large-mp`` megapixels made from a sample, if given), download the edited PNG,
Restore it (every other time with the original, for PSNR/SSIM and the sheet), and check the
restored photo against the original (PSNR over 30 dB, else a failure). Then it prints the
requests served, the failures, p50/p95 latency and the server's resident memory
(/proc/PID/status VmRSS) after warm-up, at its highest, and at the end. Targets: no failures,
and memory at the end within 10 % of the warmed start (no leak); the exit code is 1 if not.

All traffic goes to 127.0.0.1. Each client stops issuing after ``--seconds`` and waits for its
request in flight (at most ``--timeout`` s each), so the run is bounded by
``seconds + timeout``. The server's jobs run one at a time (they share one limit), so latency
is mostly waiting in the queue: about clients x the mean job time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "src" / "restorable" / "samples"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def start_server(temp: Path, timeout: float = 180) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, GRADIO_TEMP_DIR=str(temp), PYTHONPATH=str(REPO / "src"))
    cmd = [sys.executable, "-m", "restorable.cli", "serve", "--port", str(free_port())]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("restorable web page: "):
            url = line.split()[3]
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # drain
            return proc, url
    proc.kill()
    raise SystemExit(f"restorable serve did not start: {proc.stdout.read()}")


def photos(large_mp: float, folder: Path) -> list[Path]:
    from restorable.files import list_images

    found = list_images(SAMPLES)
    if large_mp > 0:
        import cv2

        from restorable.files import read_image, write_image

        photo = read_image(SAMPLES / "scikit-image__coffee.jpg")
        h = round((large_mp * 1e6 / (photo.shape[1] / photo.shape[0])) ** 0.5)
        w = round(h * photo.shape[1] / photo.shape[0])
        big = folder / f"coffee-{large_mp:g}mp.png"
        write_image(big, cv2.resize(photo, (w, h), interpolation=cv2.INTER_CUBIC))
        found.append(big)
    return found


class Client:
    """One user: Apply then Restore, in a loop, with its own gradio_client session."""

    def __init__(self, url: str, op: str, timeout: float, download: Path):
        from gradio_client import Client as GradioClient

        download.mkdir(parents=True, exist_ok=True)
        self.client = GradioClient(
            url, verbose=False, download_files=str(download), httpx_kwargs={"timeout": timeout}
        )
        self.op = op

    def apply(self, photo: Path) -> str:
        from gradio_client import handle_file

        _, edited, _ = self.client.predict(
            handle_file(str(photo)), self.op, "auto", "PNG", 90, api_name="/on_apply"
        )
        return edited

    def restore(self, edited: str, original: Path | None) -> str:
        from gradio_client import handle_file

        orig = handle_file(str(original)) if original else None
        _, restored, _, _ = self.client.predict(
            handle_file(edited), "auto", orig, api_name="/on_restore"
        )
        return restored


def check(restored: str, original: Path) -> None:
    from restorable.evaluation.metrics import psnr
    from restorable.files import read_image

    value = psnr(read_image(restored), read_image(original))
    if value < 30:
        raise RuntimeError(f"restored {original.name} at {value:.1f} dB")


def run(args: argparse.Namespace) -> dict:
    work = Path(tempfile.mkdtemp(prefix="bench-web-load-"))
    proc, url = start_server(work / "server")
    try:
        pool = photos(args.large_mp, work)
        warm = Client(url, args.op, args.timeout, work / "warm")
        for photo in pool:
            for _ in range(args.warmup):
                check(warm.restore(warm.apply(photo), photo), photo)
        latencies: dict[str, list[float]] = {"apply": [], "restore": []}
        failures: list[str] = []
        lock = threading.Lock()
        clients = [
            Client(url, args.op, args.timeout, work / f"client{i}") for i in range(args.clients)
        ]

        def user(i: int, stop_at: float, measured: bool = True) -> None:
            rng = random.Random(i if measured else -1 - i)
            client = clients[i]
            n = 0
            while time.monotonic() < stop_at and n < args.max_rounds:
                photo = rng.choice(pool)
                n += 1
                try:
                    t = time.monotonic()
                    edited = client.apply(photo)
                    with lock:
                        if measured:
                            latencies["apply"].append(time.monotonic() - t)
                    t = time.monotonic()
                    restored = client.restore(edited, photo if n % 2 else None)
                    with lock:
                        if measured:
                            latencies["restore"].append(time.monotonic() - t)
                    check(restored, photo)
                except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
                    with lock:
                        failures.append(f"client {i} {photo.name}: {type(exc).__name__}: {exc}")
                for p in (work / f"client{i}").rglob("*.png"):
                    p.unlink()  # keep the client side's disk flat

        def together(seconds: float, measured: bool) -> None:
            stop_at = time.monotonic() + seconds
            threads = [
                threading.Thread(target=user, args=(i, stop_at, measured))
                for i in range(args.clients)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(seconds + args.timeout + 60)

        together(args.warmup_seconds, measured=False)
        warmup_failures = len(failures)
        failures.clear()
        start_rss = rss_mb(proc.pid)
        peak_rss = [start_rss]
        series: list[tuple[float, float]] = []  # (s since the measured start, RSS MB)
        stop_at = time.monotonic() + args.seconds

        done = threading.Event()

        def watch() -> None:
            while not done.is_set() and time.monotonic() < stop_at + args.timeout:
                now = rss_mb(proc.pid)
                peak_rss[0] = max(peak_rss[0], now)
                if not series or time.monotonic() - began - series[-1][0] >= 10:
                    series.append((round(time.monotonic() - began, 1), now))
                time.sleep(1)

        watcher = threading.Thread(target=watch, daemon=True)
        began = time.monotonic()
        watcher.start()
        together(args.seconds, measured=True)
        done.set()
        watcher.join()
        elapsed = time.monotonic() - began
        end_rss = rss_mb(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    every = latencies["apply"] + latencies["restore"]

    def pct(values: list[float], q: int) -> float | None:
        if len(values) < 2:
            return values[0] if values else None
        return statistics.quantiles(values, n=100, method="inclusive")[q - 1]

    return {
        "clients": args.clients,
        "seconds": args.seconds,
        "elapsed_s": round(elapsed, 1),
        "photos": [p.name for p in pool],
        "served": {k: len(v) for k, v in latencies.items()},
        "failures": len(failures),
        "warmup_failures": warmup_failures,
        "failure_examples": failures[:5],
        "latency_s": {
            kind: {"p50": pct(v, 50), "p95": pct(v, 95), "max": max(v, default=None)}
            for kind, v in [*latencies.items(), ("all", every)]
        },
        "rss_mb": {"warm_start": start_rss, "peak": peak_rss[0], "end": end_rss},
        "rss_change": end_rss / start_rss - 1,
        "rss_series_mb": series,
        "server_temp_left": any((work / "server").iterdir()),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--seconds", type=float, default=180, help="issue requests for this long")
    p.add_argument("--op", default="l0")
    p.add_argument("--large-mp", type=float, default=0, help="add a photo of this many MP")
    p.add_argument("--warmup", type=int, default=1, help="Apply+Restore per photo before")
    p.add_argument("--warmup-seconds", type=float, default=30, help="all clients, before")
    p.add_argument("--timeout", type=float, default=600, help="seconds per request at most")
    p.add_argument("--max-rounds", type=int, default=1000, help="per client, at most")
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args(argv)
    if not 1 <= args.clients <= 64 or not 0 < args.seconds <= 3600:
        p.error("--clients 1..64 and --seconds up to 3600")
    result = run(args)
    lat = result["latency_s"]

    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    print(
        f"{result['clients']} clients, {result['seconds']:g} s (ran {result['elapsed_s']} s) "
        f"on {len(result['photos'])} photos"
    )
    print(
        f"served: {result['served']['apply']} apply, {result['served']['restore']} restore; "
        f"failures: {result['failures']} (warm-up: {result['warmup_failures']})"
    )
    for kind in ("apply", "restore", "all"):
        print(
            f"latency {kind:8s} p50 {fmt(lat[kind]['p50'])} s  p95 {fmt(lat[kind]['p95'])} s  "
            f"max {fmt(lat[kind]['max'])} s"
        )
    rss = result["rss_mb"]
    print(
        f"server RSS: warm start {rss['warm_start']:.0f} MB, peak {rss['peak']:.0f} MB, "
        f"end {rss['end']:.0f} MB ({result['rss_change']:+.1%})"
    )
    quarter = result["rss_series_mb"][:: max(1, len(result["rss_series_mb"]) // 6)]
    print("server RSS over time: " + ", ".join(f"{t:.0f} s {mb:.0f} MB" for t, mb in quarter))
    print(f"server's temp folder empty after SIGTERM: {not result['server_temp_left']}")
    for line in result["failure_examples"]:
        print("  " + line)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    ok = result["failures"] == result["warmup_failures"] == 0 and abs(result["rss_change"]) <= 0.10
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
