import numpy as np
import pytest
import torch

from microdl.exceptions import InvalidParameterError
from microdl.models import create_model, load_model, save_model
from microdl.models.gnd_ensemble import GNDEnsemble
from microdl.models.zhang2019 import target_to_rho


def _members():
    out = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        out.append(create_model("gnd-anchored", width=8, wide=4, head=8, symmetric=False).eval())
    return out


def _x(shape, seed=0):
    x = torch.from_numpy(np.random.default_rng(seed).lognormal(34, 1, shape)).float()
    x[:, :2] *= torch.sign(torch.randn(shape[0], 2, *shape[2:]))
    x[:, 2] = x[:, :2].norm(dim=1)
    return x


@torch.no_grad()
def test_mean_and_spread_of_members(tmp_path):
    a, b = _members()
    ens = GNDEnsemble.from_models([a, b]).eval()
    x = _x((5, 3, 7, 7))
    ra = target_to_rho(a(x)[:, 5].double(), a.rho_unit_per_m2)
    rb = target_to_rho(b(x)[:, 5].double(), b.rho_unit_per_m2)
    re = target_to_rho(ens(x)[:, 5].double(), ens.rho_unit_per_m2)
    torch.testing.assert_close(re, torch.sqrt(ra * rb), rtol=1e-4, atol=0)  # geometric mean
    spread = ens.spread(x).double()
    torch.testing.assert_close(spread, (torch.log(ra) - torch.log(rb)).abs() / np.sqrt(2), rtol=1e-3, atol=1e-6)
    same = GNDEnsemble.from_models([a, a]).eval()
    assert float(same.spread(x).max()) < 1e-5
    big = _x((1, 3, 10, 11), seed=1)
    wins = big.unfold(2, 7, 1).unfold(3, 7, 1).permute(0, 2, 3, 1, 4, 5).reshape(-1, 3, 7, 7)
    torch.testing.assert_close(ens.forward_map(big).permute(0, 2, 3, 1).reshape(-1, 6), ens(wins), atol=1e-4,
                               rtol=1e-4)
    torch.testing.assert_close(ens.spread_map(big).reshape(-1), ens.spread(wins), atol=1e-4, rtol=1e-4)
    save_model(ens, tmp_path / "e.pt")
    back, _ = load_model(tmp_path / "e.pt", device="cpu")
    torch.testing.assert_close(back(x), ens(x))


def test_errors():
    with pytest.raises(InvalidParameterError):
        create_model("gnd-ensemble", members=[{"name": "gnd-fcn7"}])
    with pytest.raises(InvalidParameterError):
        create_model("gnd-ensemble", members=[{"cfg": {}}, {"name": "gnd-fcn7"}])


def test_error_calibration_is_monotone_and_survives_saving(tmp_path):
    ens = GNDEnsemble.from_models(_members())
    assert not ens.error_calibrated
    rng = np.random.default_rng(0)
    spread = torch.from_numpy(rng.uniform(0, 0.1, 4000))
    err = torch.from_numpy(np.abs(rng.normal(0, 1, 4000)) * (0.1 + 3 * spread.numpy()))  # grows with the spread
    ens.calibrate_error(spread, err)
    assert ens.error_calibrated
    vals = ens.error_values.numpy()
    assert (np.diff(vals) >= 0).all() and vals[-1] > 1.5 * vals[0]
    e = ens.typical_error(torch.tensor([0.0, 0.05, 0.2]))
    assert float(e[0]) == pytest.approx(vals[0]) and float(e[2]) == pytest.approx(vals[-1])
    save_model(ens, tmp_path / "e.pt")
    back, _ = load_model(tmp_path / "e.pt", device="cpu")
    assert back.error_calibrated and torch.equal(back.error_values, ens.error_values)
