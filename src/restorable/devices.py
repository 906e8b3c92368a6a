"""Which GPU: ``--device cuda:N`` checked against what torch sees, and ``train --all --device
cuda`` spread over every GPU of the node instead of piling every job on the first.

The assignment is a pure function of the plan (names, forks, GPU count), so every worker
process computes the same answer for its own job with nothing passed between them, and it is
tested without a GPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from restorable.errors import RestorableError


class _Job(Protocol):
    name: str
    after: str | None


def gpu_count() -> int:
    """GPUs torch can use here (CUDA_VISIBLE_DEVICES applies); 0 without CUDA."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def check_device(device: str, n_gpus: int | None = None) -> None:
    """Refuse ``cuda:N`` past the last visible GPU with one line (torch's own error is a
    traceback from deep inside ``.to()``, "invalid device ordinal")."""
    kind, _, index = str(device).partition(":")
    if kind != "cuda" or not index:
        return
    n = gpu_count() if n_gpus is None else n_gpus
    if not index.isdigit() or int(index) >= n:
        seen = f"cuda:0 to cuda:{n - 1}" if n > 1 else "cuda:0 only" if n else "no GPU"
        raise RestorableError(f"device {device!r}: torch sees {seen} here")


def assign_devices(jobs: Sequence[_Job], n_gpus: int) -> dict[str, int]:
    """GPU index per job name: the fresh models in turn over the GPUs, then the forks (which
    start once their parents finish, so in a round of their own) in turn again.

    ``train --all`` starts every fresh model at once on a GPU node, so an even count per GPU is
    an even load; a fork runs after its parent, and evening the forks out separately keeps that
    later round even too. With one GPU or none every job gets index 0.
    """
    if n_gpus <= 1:
        return {j.name: 0 for j in jobs}
    fresh = [j for j in jobs if not j.after]
    forks = [j for j in jobs if j.after]
    return {j.name: i % n_gpus for group in (fresh, forks) for i, j in enumerate(group)}


def use_gpu_for(job: _Job, jobs: Sequence[_Job], device: str) -> int | None:
    """In a training worker: make this job's GPU torch's current one (so "cuda" means it for
    training, saving and evaluation alike); returns its index, or None off CUDA."""
    if device != "cuda":
        return None
    import torch

    index = assign_devices(jobs, gpu_count())[job.name]
    torch.cuda.set_device(index)
    return index
