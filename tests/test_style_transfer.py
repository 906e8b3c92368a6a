"""Style-transfer operators (rain, scream), their loss and their training."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch
from PIL import Image

import restorable
from restorable.operators import operator_ids
from restorable.operators.style_transfer import StyleNet, load_style_net, run_net, weight_paths
from restorable.training.style_losses import PerceptualLoss, gram_matrix, make_loss_network

SHIPPED = [n for n in ("rain", "scream") if weight_paths(n)[0].exists()]


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _img(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


@pytest.mark.parametrize("shape", [(4, 4), (5, 7), (13, 9), (33, 18)])
def test_network_output_shape_on_odd_sizes(shape):
    torch.manual_seed(0)
    net = StyleNet().eval()
    out = run_net(net, _img(*shape))
    assert out.shape == (*shape, 3) and out.dtype == np.float32
    assert np.all((out >= 0) & (out <= 1))


def test_network_is_deterministic():
    torch.manual_seed(0)
    net = StyleNet().eval()
    img = _img(21, 30)
    np.testing.assert_array_equal(run_net(net, img), run_net(net, img))


def test_gram_matrix_by_hand():
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 1, 2)  # C=2, H=1, W=2
    expected = torch.tensor([[1 + 4, 3 + 8], [3 + 8, 9 + 16]]) / 2.0
    torch.testing.assert_close(gram_matrix(f)[0], expected)


@pytest.mark.skipif(not SHIPPED, reason="no shipped style weights")
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_load_and_register(name):
    assert name in operator_ids()
    info = restorable.get_operator(name)
    assert info.kind == "III" and "Johnson" in info.citation
    f = restorable.reference(name)
    img = (_img(37, 51, seed=1) * 255).astype(np.uint8)
    out = f(img)
    assert out.shape == (37, 51, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out, f(img))  # deterministic
    assert np.abs(out - img / 255.0).mean() > 0.02  # it does change the photo
    half = restorable.reference(name, strength=0.5)(img)
    np.testing.assert_allclose(half, 0.5 * out + 0.5 * img / 255.0, atol=1e-5)
    assert load_style_net(name) is load_style_net(name)  # cached


def _loss(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    style = torch.rand(3, 32, 32, generator=g)
    return PerceptualLoss(style, make_loss_network(seed=0))


def test_one_training_step_reduces_the_loss():
    torch.manual_seed(0)
    net = StyleNet()
    crit = _loss()
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    before, _ = crit(net(x), x)
    opt.zero_grad()
    before.backward()
    opt.step()
    after, _ = crit(net(x), x)
    assert after.item() < before.item()


def _photos(tmp_path, n=3):
    d = tmp_path / "photos"
    d.mkdir()
    for i in range(n):
        arr = (_img(40, 48, seed=10 + i) * 255).astype(np.uint8)
        Image.fromarray(arr).save(d / f"p{i}.png")
    style = tmp_path / "style.png"
    Image.fromarray((_img(40, 40, seed=99) * 255).astype(np.uint8)).save(style)
    return d, style


def test_resume_round_trip(tmp_path):
    from safetensors.torch import load_file

    from restorable.training.style import train_style

    photos, style = _photos(tmp_path)
    kw = dict(photos_dir=photos, size=32, batch=2, style_size=32, log=None)
    # One run of 4 steps, and one of 2 steps then resumed to 4: same weights.
    train_style(style, "a", steps=4, out_dir=tmp_path / "w1", run_dir=tmp_path / "r1", **kw)
    train_style(style, "b", steps=2, out_dir=tmp_path / "w2", run_dir=tmp_path / "r2", **kw)
    assert (tmp_path / "r2" / "checkpoint.pt").exists()
    train_style(
        style, "b", steps=4, out_dir=tmp_path / "w2", run_dir=tmp_path / "r2", resume=True, **kw
    )
    a = load_file(str(tmp_path / "w1" / "style_a.safetensors"))
    b = load_file(str(tmp_path / "w2" / "style_b.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
    net = load_style_net("a", tmp_path / "w1")
    assert run_net(net, _img(9, 11)).shape == (9, 11, 3)


def test_cli_registers_train_style(tmp_path, capsys, monkeypatch):
    from restorable.training.style_cli import register_cli

    parser = argparse.ArgumentParser(prog="restorable")
    register_cli(parser.add_subparsers(dest="command"))
    photos, style = _photos(tmp_path, n=2)
    monkeypatch.chdir(tmp_path)  # checkpoints go to ./runs/style_t
    args = parser.parse_args(
        ["train-style", "--style", str(style), "--name", "t", "--photos", str(photos)]
        + ["--steps", "2", "--size", "32", "--batch", "1", "--out", str(tmp_path / "w")]
    )
    assert args.fn(args) == 0
    assert (tmp_path / "w" / "style_t.safetensors").exists()
    with pytest.raises(SystemExit):
        parser.parse_args(["train-style", "--help"])
    assert "painting" in capsys.readouterr().out
