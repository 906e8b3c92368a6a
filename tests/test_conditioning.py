"""One model for a range of settings (Table 3): the setting enters ψ only, so restore needs none;
apply takes it by the operator's parameter name, checks the range, and the file records it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from restorable.cli import main
from restorable.errors import RestorableError
from restorable.files import read_image, read_meta, write_image
from restorable.models import ModelCard, RestorableModel, load
from restorable.network.conditioning import RANGES, check_setting, net_cond, normalise, spread
from restorable.network.model import NetConfig, QuasiInvertibleNet
from restorable.training.everything import plan_jobs

SAMPLES = Path(__file__).parents[1] / "src" / "restorable" / "samples"
COND = {"param": "lam", "low": 0.01, "high": 0.04, "log": True}


def test_normalise_spans_minus_one_to_one_on_a_log_scale() -> None:
    assert normalise(COND, 0.01) == pytest.approx(-1)
    assert normalise(COND, 0.04) == pytest.approx(1)
    assert normalise(COND, 0.02) == pytest.approx(0)  # the geometric middle
    lin = {**COND, "log": False}
    assert normalise(lin, 0.025) == pytest.approx(0)
    assert spread(COND, 3) == pytest.approx([0.01, 0.02, 0.04])
    for op, spec in RANGES.items():  # the training values lie in the range, ends included
        assert spec["values"][0] == spec["low"] and spec["values"][-1] == spec["high"], op
    with pytest.raises(RestorableError, match=r"lam=0.08 is outside the range .*0.01 to 0.04"):
        check_setting(COND, 0.08)


def _perturbed(cfg: NetConfig) -> QuasiInvertibleNet:
    torch.manual_seed(0)
    net = QuasiInvertibleNet(cfg)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.03 * torch.randn_like(p))
    return net.eval()


def test_setting_changes_the_output_not_the_inverse() -> None:
    """ψ reads the setting; H⁻¹ and φ⁻¹ do not, so the inverse (with Δ as computed) returns the
    photo exactly whatever the setting, and the inverse takes no setting at all."""
    net = _perturbed(NetConfig(blocks=2, width=8, psi_width=8, guided=True, cond=COND))
    x = torch.rand(2, 3, 32, 40, dtype=torch.float64)
    net = net.double()
    with torch.no_grad():
        lo, d_lo = net(x, x, cond=-1.0)
        hi, d_hi = net(x, x, cond=torch.tensor([1.0, 1.0], dtype=torch.float64))
        assert (lo - hi).abs().max() > 1e-4
        for out, delta in ((lo, d_lo), (hi, d_hi)):
            assert torch.allclose(net.inverse(out, delta), x, atol=1e-10)
    with pytest.raises(ValueError, match="conditioned"):
        net(x, x)


@pytest.fixture(scope="module")
def cond_run(tiny_l0) -> Path:
    """A tiny conditioned L0 model (2 steps, two setting values)."""
    return tiny_l0(name="l0-cond", param_values=[0.01, 0.04], net={"guided": True, "cond": COND})


def test_conditioned_model_trains_applies_per_setting_and_restores(cond_run: Path) -> None:
    card = json.loads((cond_run / "l0-cond.json").read_text())
    assert card["net"]["cond"] == COND and card["training"]["param_values"] == [0.01, 0.04]
    m = load("l0-cond", cond_run)
    assert m.setting == COND and m.settings() == {"lam": 0.02}  # the operator's default
    img = read_image(SAMPLES / "scikit-image__chelsea.jpg")[:48, :56]
    x = img.astype(np.float32) / 255
    lo = m.apply_float(x, m.reference_guide(x, lam=0.01), lam=0.01)
    hi = m.apply_float(x, m.reference_guide(x, lam=0.04), lam=0.04)
    assert np.abs(lo - hi).max() > 1e-4
    edited = m.apply(img, lam=0.03)
    assert edited.shape == img.shape and edited.dtype == np.uint8
    back = m.restore(edited)  # no setting needed
    assert np.abs(back.astype(int) - img).mean() < 8  # barely trained: near identity
    with pytest.raises(RestorableError, match=r"lam=0.1 is outside the range model 'l0-cond'"):
        m.apply(img, lam=0.1)
    with pytest.raises(RestorableError, match="takes lam=VALUE"):
        m.apply(img, kappa=3)


def test_single_setting_model_refuses_a_setting() -> None:
    cfg = NetConfig(blocks=2, width=8, psi_width=8)
    m = RestorableModel(QuasiInvertibleNet(cfg), ModelCard("l0", "t", cfg.to_dict()))
    img = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(RestorableError, match="serves one setting"):
        m.apply(img, lam=0.03)


def test_cli_records_the_setting_and_restores_without_it(
    cond_run: Path, tmp_path: Path, capsys
) -> None:
    photo = tmp_path / "photo.png"
    write_image(photo, read_image(SAMPLES / "scikit-image__coffee.jpg")[:40, :48])
    edited, restored = tmp_path / "e.png", tmp_path / "r.png"
    w = ["--weights", str(cond_run)]
    # --op l0 with a setting picks the conditioned model l0-cond
    argv = ["apply", "--op", "l0", "--param", "lam=0.03", *w, str(photo), "-o", str(edited)]
    assert main(argv) == 0
    meta = read_meta(edited)
    assert meta["name"] == "l0-cond" and meta["params"] == {"lam": 0.03}
    assert main(["restore", *w, str(edited), "-o", str(restored)]) == 0
    assert read_image(restored).shape == read_image(photo).shape
    capsys.readouterr()
    bad = ["apply", "--op", "l0-cond", "--param", "lam=0.5", *w, str(photo)]
    assert main(bad + ["-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: lam=0.5 is outside the range") and "\n" not in err
    assert not (tmp_path / "x.png").exists()


def test_eval_at_a_setting(cond_run: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("RESTORABLE_CACHE", str(cond_run.parent / "cache"))
    photos = cond_run.parent / "photos"
    # --op l0 with a setting evaluates the conditioned model, as apply picks it
    argv = ["eval", "--op", "l0", "--param", "lam=0.04", "--weights", str(cond_run)]
    assert main(argv + ["--photos", str(photos), "--json", str(cond_run / "e.json")]) == 0
    result = json.loads((cond_run / "e.json").read_text())
    assert result["params"] == {"lam": 0.04} and result["photos"] == 1
    assert "lam=0.04" in capsys.readouterr().out


def test_cli_trains_a_conditioned_model(cond_run: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RESTORABLE_CACHE", str(cond_run.parent / "cache"))
    tiny = {"steps": 1, "batch": 2, "crop": 32, "max_side": 64, "threads": 1}
    (tmp_path / "cfg.json").write_text(json.dumps({**tiny, "net": {"blocks": 2, "width": 8}}))
    argv = ["train", "--op", "exposure", "--cond", "--config", str(tmp_path / "cfg.json")]
    argv += ["--photos", str(cond_run.parent / "photos"), "--run-dir", str(tmp_path / "run")]
    assert main(argv) == 0
    card = json.loads((tmp_path / "run" / "exposure-cond.json").read_text())
    assert card["net"]["cond"] == net_cond("exposure") and card["net"]["guided"]
    assert card["training"]["param_values"] == RANGES["exposure"]["values"]


def test_train_all_plans_cond_for_ops_with_a_range(tmp_path: Path) -> None:
    jobs = plan_jobs(["l0", "wls", "llf"], ["cond"], tmp_path)
    assert [j.name for j in jobs] == ["l0-cond", "llf-cond"]
    assert jobs[0].config["net"]["cond"] == net_cond("l0")
    assert jobs[1].config["param_values"] == RANGES["llf"]["values"]
