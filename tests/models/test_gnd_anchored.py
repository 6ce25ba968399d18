import numpy as np
import pytest
import torch

from microdl.data.gnd import generate_windows, windows_to_tensor
from microdl.data.gnd_symmetry import N_SYMMETRIES, apply_symmetry
from microdl.exceptions import InvalidParameterError, ShapeError
from microdl.models import create_model, load_model, save_model
from microdl.models.zhang2019 import target_to_rho


@pytest.fixture(scope="module")
def x():
    return windows_to_tensor(generate_windows(8, rng=0).gnd)


def _model(**kw):
    torch.manual_seed(0)
    m = create_model("gnd-anchored", width=16, wide=8, head=16, **kw)
    m.train()
    with torch.no_grad():  # give batch norm non-trivial statistics
        m(torch.cat([x_ for x_ in [windows_to_tensor(generate_windows(20, rng=1).gnd)]]))
    return m.eval()


@torch.no_grad()
def test_exactly_invariant_in_eval(x):
    m = _model()
    out = m(x)
    for k in range(N_SYMMETRIES):
        torch.testing.assert_close(m(apply_symmetry(x, k)), out, atol=1e-5, rtol=1e-5)
    raw = _model(symmetric=False)
    assert max(float((raw(apply_symmetry(x, k)) - raw(x)).abs().max()) for k in range(N_SYMMETRIES)) > 1e-4


def test_map_pass_equals_window_pass(x):
    m = _model()
    big = torch.from_numpy(np.random.default_rng(2).lognormal(33, 1, (1, 3, 11, 12))).float()
    big[:, :2] *= torch.sign(torch.randn(1, 2, 11, 12))
    out_map = m.forward_map(big)  # (1, 6, 5, 6)
    wins = big.unfold(2, 7, 1).unfold(3, 7, 1).permute(0, 2, 3, 1, 4, 5).reshape(-1, 3, 7, 7)
    torch.testing.assert_close(out_map.permute(0, 2, 3, 1).reshape(-1, 6), m(wins), atol=1e-4, rtol=1e-4)


def test_scale_buffer_multiplies_density_and_round_trips(x, tmp_path):
    m = _model()
    unit = m.rho_unit_per_m2
    rho0 = target_to_rho(m(x)[:, 5].double(), unit)
    m.log_scale.fill_(float(np.log(1.25)))
    rho1 = target_to_rho(m(x)[:, 5].double(), unit)
    torch.testing.assert_close(rho1, 1.25 * rho0, rtol=1e-4, atol=0)
    save_model(m, tmp_path / "m.pt")
    back, _ = load_model(tmp_path / "m.pt", device="cpu")
    torch.testing.assert_close(back(x), m(x))


def test_errors(x):
    with pytest.raises(InvalidParameterError):
        create_model("gnd-anchored", width=1)
    with pytest.raises(InvalidParameterError):
        create_model("gnd-anchored", dropout=1.0)
    with pytest.raises(ShapeError):
        _model()(x[:, :, :5, :5])
