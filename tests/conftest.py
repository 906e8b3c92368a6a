"""Shared test settings."""

import torch

# One thread: the suite's networks are tiny, and CI's two cores may be shared; oversubscribed
# torch thread pools make small convolutions tens of times slower.
torch.set_num_threads(1)
