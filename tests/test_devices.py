"""GPU choice without a GPU: train --all's spread over a node's GPUs, and --device cuda:N."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from restorable.devices import assign_devices, check_device, use_gpu_for
from restorable.errors import RestorableError
from restorable.training.everything import plan_jobs


def _jobs():
    """The default plan's shape: nine fresh models, then a JPEG fork of each."""
    ops = ["wls", "llf", "l0", "rtv", "bwp", "cpd", "rain", "scream", "exposure"]
    return plan_jobs(ops, ["png", "jpeg"], Path("unused"), device="cuda")


def test_every_gpu_gets_an_even_share_of_each_round() -> None:
    jobs = _jobs()
    assert len(jobs) == 18 and sum(1 for j in jobs if j.after) == 9
    got = assign_devices(jobs, 4)
    assert set(got) == {j.name for j in jobs}
    for forks in (False, True):  # the fresh models start together, the forks after them
        per_gpu = Counter(got[j.name] for j in jobs if bool(j.after) == forks)
        assert sorted(per_gpu) == [0, 1, 2, 3]
        assert max(per_gpu.values()) - min(per_gpu.values()) <= 1
    assert set(assign_devices(jobs, 1).values()) == set(assign_devices(jobs, 0).values()) == {0}
    assert assign_devices(jobs, 4) == got  # every worker process computes the same answer


def test_a_worker_makes_its_jobs_gpu_current(monkeypatch) -> None:
    import torch

    jobs = _jobs()
    calls: list[int] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    monkeypatch.setattr(torch.cuda, "set_device", calls.append)
    used = [use_gpu_for(j, jobs, "cuda") for j in jobs]
    assert calls == used and set(used) == {0, 1, 2}
    assert use_gpu_for(jobs[0], jobs, "cpu") is None and len(calls) == len(jobs)


@pytest.mark.parametrize(
    ("device", "n", "ok"),
    [
        ("cpu", 0, True),
        ("cuda", 1, True),
        ("cuda:0", 1, True),
        ("cuda:1", 2, True),
        ("cuda:2", 2, False),
        ("cuda:0", 0, False),
        ("cuda:x", 4, False),
    ],
)
def test_cuda_index_is_checked_against_the_visible_gpus(device: str, n: int, ok: bool) -> None:
    if ok:
        check_device(device, n)
    else:
        with pytest.raises(RestorableError, match=f"device '{device}': torch sees"):
            check_device(device, n)


def test_apply_on_a_missing_gpu_is_one_line(tmp_path, capsys) -> None:
    from restorable.cli import main

    photo = Path(__file__).parents[1] / "src/restorable/samples/scikit-image__chelsea.jpg"
    argv = ["apply", "--op", "l0", "--device", "cuda:7", str(photo), "-o", str(tmp_path / "o.png")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: device 'cuda:7'") and "\n" not in err
    assert not (tmp_path / "o.png").exists()
