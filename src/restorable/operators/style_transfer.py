"""Fast neural style transfer: the reference operators ``rain`` and ``scream`` (Type III).

::

    img ─► pad(×4, reflect) ─► conv9 16 ─► conv3/2 32 ─► conv3/2 64 ─► R residual blocks
        ─► up×2 + conv3 32 ─► up×2 + conv3 16 ─► conv9 3 ─► sigmoid ─► crop ─► blend(strength)

A feed-forward network after Johnson, Alahi & Fei-Fei, "Perceptual losses for real-time style
transfer and super-resolution" (ECCV 2016): strided convolutions down by 4, residual blocks,
nearest-neighbour upsampling followed by a convolution (no transposed convolutions, so no
checkerboard), instance normalisation (Ulyanov et al. 2016) and reflection padding throughout.
The network is kept small (channels 16/32/64) so a 640x480 photo runs in well under a second on
one CPU core (see ``benchmarks/bench_style.py``).

The networks are trained by :func:`restorable.training.style.train_style` on the project's photos,
one network per painting. No pretrained VGG exists in this project, so the perceptual loss is
computed with a fixed *random-weight* feature network; see
:mod:`restorable.training.style_losses` for the two loss networks compared and why one was chosen
(decision: a single wide random layer on a 4-level image pyramid beat a deep random VGG-like stack
on both independent style and content distances at equal steps, and its outputs carry the
painting's palette and contours instead of a blurred recolouring).

Weights live in ``restorable/weights/style_<name>.safetensors`` (fp16) with a JSON file beside it
(``style_<name>.json``) holding the architecture and training facts. An operator is registered
only when its weight file is present.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from restorable.errors import RestorableError
from restorable.operators.registry import register

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"

#: Architecture used when a JSON config does not say otherwise.
DEFAULT_ARCH = {"channels": [16, 32, 64], "residual_blocks": 3}

JOHNSON_2016 = (
    "Johnson, Alahi, Fei-Fei, Perceptual losses for real-time style transfer and "
    "super-resolution, ECCV 2016"
)


class _ConvLayer(nn.Module):
    """Reflection padding + convolution (+ instance norm + ReLU)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, norm_act: bool = True):
        super().__init__()
        self.pad = nn.ReflectionPad2d(k // 2)
        self.conv = nn.Conv2d(cin, cout, k, stride)
        self.norm = nn.InstanceNorm2d(cout, affine=True) if norm_act else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(self.pad(x))
        if self.norm is not None:
            x = F.relu(self.norm(x))
        return x


class _Residual(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.a = _ConvLayer(c, c, 3)
        self.pad = nn.ReflectionPad2d(1)
        self.conv = nn.Conv2d(c, c, 3)
        self.norm = nn.InstanceNorm2d(c, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.norm(self.conv(self.pad(self.a(x))))


class _Upsample(nn.Module):
    """Nearest-neighbour ×2 then a convolution (Odena et al. 2016: avoids checkerboards)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = _ConvLayer(cin, cout, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class StyleNet(nn.Module):
    """The image transformation network: (N, 3, H, W) in [0, 1] -> same shape in [0, 1].

    H and W must be multiples of 4; :func:`stylise` pads and crops for any size.
    """

    def __init__(self, channels: tuple[int, int, int] = (16, 32, 64), residual_blocks: int = 3):
        super().__init__()
        c1, c2, c3 = channels
        self.down = nn.Sequential(
            _ConvLayer(3, c1, 9), _ConvLayer(c1, c2, 3, 2), _ConvLayer(c2, c3, 3, 2)
        )
        self.res = nn.Sequential(*[_Residual(c3) for _ in range(residual_blocks)])
        self.up = nn.Sequential(_Upsample(c3, c2), _Upsample(c2, c1))
        self.out = _ConvLayer(c1, 3, 9, norm_act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Centre the input so instance norm's first layer sees zero-mean data.
        y = self.out(self.up(self.res(self.down(x * 2.0 - 1.0))))
        return torch.sigmoid(y)


MIN_NET_SIDE = 16


def run_net(net: StyleNet, img: np.ndarray) -> np.ndarray:
    """Apply ``net`` to one float32 HxWx3 image of any size (reflect-padded to a multiple of 4)."""
    h, w = img.shape[:2]
    x = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)).permute(2, 0, 1)[None]
    # Multiple of 4 for the two stride-2 stages, and at least MIN_NET_SIDE so that every
    # reflection pad inside the network (4 px at full resolution) is smaller than its input.
    ph = max((-h) % 4, MIN_NET_SIDE - h)
    pw = max((-w) % 4, MIN_NET_SIDE - w)
    if ph or pw:
        # Reflection padding needs pad < side; replicate covers the tiny sides.
        mode = "reflect" if (ph < h and pw < w) else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    with torch.inference_mode():
        y = net(x)[0, :, :h, :w]
    return np.ascontiguousarray(y.permute(1, 2, 0).numpy(), dtype=np.float32)


def weight_paths(name: str, weights_dir: Path | None = None) -> tuple[Path, Path]:
    """The (safetensors, json) paths of style ``name``."""
    d = Path(weights_dir) if weights_dir is not None else WEIGHTS_DIR
    return d / f"style_{name}.safetensors", d / f"style_{name}.json"


def build_net(config: dict | None = None) -> StyleNet:
    """A StyleNet with the architecture described by ``config`` (the JSON's "arch" entry)."""
    arch = dict(DEFAULT_ARCH, **(config or {}))
    return StyleNet(tuple(arch["channels"]), int(arch["residual_blocks"]))


_CACHE: dict[tuple[str, str], StyleNet] = {}
_LOCK = threading.Lock()


def load_style_net(name: str, weights_dir: Path | None = None) -> StyleNet:
    """The trained network for style ``name``, loaded once and cached (eval mode, float32)."""
    from safetensors.torch import load_file

    st_path, json_path = weight_paths(name, weights_dir)
    key = (name, str(st_path))
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        if not st_path.exists():
            raise RestorableError(f"no weights for style {name!r} (expected {st_path})")
        config = json.loads(json_path.read_text()) if json_path.exists() else {}
        net = build_net(config.get("arch"))
        state = {k: v.float() for k, v in load_file(str(st_path)).items()}
        net.load_state_dict(state)
        net.eval()
        for p in net.parameters():
            p.requires_grad_(False)
        _CACHE[key] = net
        return net


def stylise(img: np.ndarray, name: str, strength: float = 1.0) -> np.ndarray:
    """Stylise float32 HxWx3 ``img`` in [0, 1] with the shipped network ``name``.

    ``strength`` in [0, 1] blends linearly with the input: 0 returns the photo, 1 (default) the
    network's output, ``strength * styled + (1 - strength) * img``. Deterministic.
    """
    if not 0.0 <= strength <= 1.0:
        raise RestorableError(f"strength must be in [0, 1], got {strength}")
    img = np.asarray(img, dtype=np.float32)
    out = run_net(load_style_net(name), img)
    if strength < 1.0:
        out = strength * out + (1.0 - strength) * img
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _make_operator(name: str):
    def fn(img: np.ndarray, *, strength: float = 1.0) -> np.ndarray:
        return stylise(img, name, strength=strength)

    return fn


def _register_styles() -> None:
    paintings = {
        "rain": ("Style transfer: Rain Princess", "Leonid Afremov, Rain Princess"),
        "scream": ("Style transfer: The Scream", "Edvard Munch, The Scream (1893)"),
    }
    for name, (title, painting) in paintings.items():
        if not weight_paths(name)[0].exists():
            continue
        fn = _make_operator(name)
        fn.__name__ = f"style_{name}"
        fn.__doc__ = (
            f"{title}: the project's feed-forward network ({JOHNSON_2016}) trained on the "
            f"painting {painting}. ``strength`` in [0, 1] blends with the input photo."
        )
        register(name, "III", title, f"{JOHNSON_2016}; style: {painting}")(fn)
    # Styles users trained with `restorable train-style` into the package's weights folder.
    for path in sorted(WEIGHTS_DIR.glob("style_*.safetensors")):
        name = path.stem.removeprefix("style_")
        if name in paintings:
            continue
        fn = _make_operator(name)
        fn.__name__ = f"style_{name}"
        fn.__doc__ = f"Style transfer {name!r}, trained by the user with train-style."
        register(name, "III", f"Style transfer: {name} (user)", JOHNSON_2016)(fn)


_register_styles()
