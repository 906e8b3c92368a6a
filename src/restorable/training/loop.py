"""The training loop every trainer runs: the restorable models' (train.Trainer) and the style
networks' (style.StyleTrainer).

    resume? ─► while not finished: step ─► after_step (log, progress)
                                        └► every few minutes: save (checkpoint [+ model])
            ─► save(final=True)

A trainer supplies the parts: :meth:`Loop.step` (one optimisation step, returning its figures),
:meth:`Loop.finished`, :meth:`Loop.checkpoint` / :meth:`Loop.resume` (everything a run needs to
carry on exactly, written with :func:`atomic_save`) and :meth:`Loop.save`. Keeping the loop in
one place keeps its rules in one place: checkpoints on a wall-clock period, only on the lead
process, and a final save however the loop ends normally.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch


def atomic_save(state: dict, path: Path) -> Path:
    """``torch.save`` to a temporary file beside ``path``, renamed over it: a run killed while
    writing leaves the previous checkpoint whole."""
    path = Path(path)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)
    return path


class Loop:
    """The loop of :mod:`module docstring <restorable.training.loop>`; subclasses supply the
    parts. ``ckpt_seconds``: the period of :meth:`save` during the run; ``lead``: whether this
    process writes (under torchrun, rank 0 only)."""

    ckpt_seconds: float = 180.0
    lead: bool = True
    ckpt_path: Path
    device: str
    net: torch.nn.Module
    opt: torch.optim.Optimizer
    # a checkpoint a subclass has read already (Trainer: a resumed estimate's, before the net
    # was built); read_checkpoint takes it instead of the file, once
    checkpoint_read: dict | None = None

    def step(self) -> dict:
        raise NotImplementedError

    def finished(self) -> bool:
        raise NotImplementedError

    def checkpoint(self) -> Path:
        raise NotImplementedError

    def resume(self) -> bool:
        raise NotImplementedError

    def read_checkpoint(self) -> dict | None:
        """The checkpoint at ``ckpt_path`` with the network's and the optimiser's states loaded
        (the rest is the subclass's to restore); None when there is none."""
        state, self.checkpoint_read = self.checkpoint_read, None
        if state is None:
            if not self.ckpt_path.exists():
                return None
            state = torch.load(self.ckpt_path, map_location=self.device, weights_only=False)
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["opt"])
        return state

    def save(self, final: bool = False) -> None:
        """What a run leaves every ``ckpt_seconds`` and at the end; by default the checkpoint."""
        self.checkpoint()

    def after_step(self, figures: dict) -> None:
        """Log and report progress after a step (nothing by default)."""

    def loop(self) -> None:
        """Step until :meth:`finished`, saving every ``ckpt_seconds`` and at the end."""
        last = time.time()
        while not self.finished():
            self.after_step(self.step())
            if self.lead and time.time() - last > self.ckpt_seconds:
                self.save()
                last = time.time()
        if self.lead:
            self.save(final=True)
