"""Tiled runs equal whole-image runs for a fully convolutional net of known receptive field."""

import numpy as np
import pytest
import torch
from torch import nn

from restorable.errors import RestorableError
from restorable.tiling import auto_tile, pad_to_multiple, run_tiled

# Receptive radius of _net, by layer: 3x3 (1) + 3x3 (1) + 2x2/2 down (1) + two 3x3 at half
# resolution (2 + 2) + 2x2/2 up (1) + 3x3 (1) = 9 pixels. 16 is a safe overlap.
RADIUS = 9


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.Conv2d(8, 16, 2, stride=2),
        nn.LeakyReLU(0.2),
        nn.Conv2d(16, 16, 3, padding=1),
        nn.Conv2d(16, 16, 3, padding=1),
        nn.LeakyReLU(0.2),
        nn.ConvTranspose2d(16, 8, 2, stride=2),
        nn.Conv2d(8, 3, 3, padding=1),
    ).eval()


@pytest.fixture(scope="module")
def fn():
    # Tiny convolutions: one thread is fastest, and fair to a shared machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    net = _net()

    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            t = torch.from_numpy(x).permute(2, 0, 1)[None]
            return net(t)[0].permute(1, 2, 0).numpy()

    yield run
    torch.set_num_threads(threads)


def _whole(fn, img, multiple=8):
    padded, (h, w) = pad_to_multiple(img, multiple)
    return fn(padded)[:h, :w]


def _image(h, w):
    return np.random.default_rng(1).random((h, w, 3), dtype=np.float32)


def test_receptive_radius_is_as_documented(fn):
    img = _image(64, 64)
    bumped = img.copy()
    bumped[32, 32] += 1.0
    changed = np.argwhere(np.abs(fn(bumped) - fn(img)).max(axis=2) > 0)
    assert np.abs(changed - 32).max() <= RADIUS


@pytest.mark.parametrize("tile", [48, 64])
def test_tiled_equals_whole(fn, tile):
    img = _image(70, 93)
    out = run_tiled(fn, img, tile=tile, overlap=12)
    assert out.shape == img.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, _whole(fn, img), atol=1e-5)


def test_too_little_overlap_shows_seams(fn):
    img = _image(70, 93)
    out = run_tiled(fn, img, tile=24, overlap=0)
    assert np.abs(out - _whole(fn, img)).max() > 1e-3


@pytest.mark.parametrize("shape", [(9, 13), (17, 100), (63, 8), (4, 4)])
def test_sizes_not_divisible_by_8(fn, shape):
    img = _image(*shape)
    out = run_tiled(fn, img, tile=40, overlap=16)
    np.testing.assert_allclose(out, _whole(fn, img), atol=1e-5)


def test_tile_larger_than_image_runs_once(fn):
    img = _image(70, 93)
    calls = []

    def counted(x):
        calls.append(x.shape)
        return fn(x)

    out = run_tiled(counted, img, tile=512, overlap=16)
    assert calls == [(72, 96, 3)]
    np.testing.assert_array_equal(out, _whole(fn, img))


def test_output_channels_may_differ(fn):
    img = _image(70, 93)
    guide = _image(70, 93)[..., :1]

    def guided(t):
        return fn(t[..., :3] * t[..., 3:])

    out = run_tiled(guided, np.concatenate([img, guide], axis=2), tile=48, overlap=12)
    np.testing.assert_allclose(out, _whole(fn, img * guide), atol=1e-5)


def test_tile_too_small_for_overlap(fn):
    with pytest.raises(RestorableError, match="at least 40"):
        run_tiled(fn, _image(70, 93), tile=32, overlap=16)
    with pytest.raises(RestorableError, match="^tile 3 is too small"):  # the tile asked for
        run_tiled(fn, _image(70, 93), tile=3, overlap=16)


def test_pad_to_multiple():
    img = _image(70, 93)
    padded, size = pad_to_multiple(img, 8)
    assert padded.shape == (72, 96, 3) and size == (70, 93)
    np.testing.assert_array_equal(padded[:70, :93], img)
    np.testing.assert_array_equal(padded[70, :93], img[68])  # reflect: the edge row not repeated
    exact = img[:64, :88]
    assert pad_to_multiple(exact, 8)[0] is exact


def test_auto_tile():
    assert auto_tile(480, 640, 1024) == 640  # fits: one tile
    tile = auto_tile(6000, 4000, 1024, overlap=32)
    assert tile % 8 == 0 and 64 + 8 <= tile < 4000
    assert tile * tile * 512 <= 1024 * 2**20
    # A long strip: windows span the short side, so they may be long.
    assert auto_tile(64, 100_000, 100) > 1000
