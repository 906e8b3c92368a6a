"""Shared test settings."""

import os
import tempfile

import torch

# One thread: the suite's networks are tiny, and CI's two cores may be shared; oversubscribed
# torch thread pools make small convolutions tens of times slower.
torch.set_num_threads(1)

# The user's own models (train --pairs) must not leak into the suite, nor the suite's into them:
# an empty models folder for this run (subprocesses inherit it).
os.environ["RESTORABLE_HOME"] = tempfile.mkdtemp(prefix="restorable-home-")
