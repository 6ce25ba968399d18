import numpy as np
import pytest
import torch

from microdl.exceptions import (
    DataFileError,
    InvalidParameterError,
    NonFiniteError,
    ShapeError,
    UnknownNameError,
)
from microdl.models import (
    ZhangNgan2019GND,
    count_parameters,
    create_model,
    list_models,
    load_model,
    model_info,
    rho_to_target,
    save_model,
    target_to_rho,
)
from microdl.data.gnd import check_gnd_windows, windows_to_tensor


@pytest.mark.parametrize("name", [m for m in list_models() if model_info(m)["input"].startswith("(n, 3, 7, 7)")])
@pytest.mark.parametrize("n", [1, 5])
def test_output_shape(name, n):
    model = create_model(name).eval()
    with torch.no_grad():
        out = model(torch.rand(n, 3, 7, 7) * 1e15)
    assert out.shape == (n, 6)
    assert model.model_name == name


def test_paper_parameter_count():
    # Zhang & Ngan 2019, section 3: "343434 parameters in total".
    assert count_parameters(create_model("zhang2019-gnd")) == 343_434
    # Table A1 + BN(gamma, beta) after each learnable layer, without the input BN.
    assert count_parameters(create_model("zhang2019-gnd", input_batchnorm=False)) == 343_428
    # Keras-style count adds BN moving mean/var: 2 * (1113 + 3).
    assert count_parameters(create_model("zhang2019-gnd"), convention="keras") == 345_666


def _dropout_feeds_batchnorm(model):
    """Whether a batch normalisation comes after a dropout in the module order."""
    seen_dropout = False
    for m in model.modules():
        seen_dropout |= isinstance(m, torch.nn.Dropout)
        if seen_dropout and isinstance(m, torch.nn.BatchNorm2d):
            return True
    return False


def test_dropout_last_variant_has_no_dropout_in_front_of_a_batch_norm():
    paper, variant = create_model("zhang2019-gnd"), create_model("zhang2019-gnd-dropout-last")
    assert _dropout_feeds_batchnorm(paper) and not _dropout_feeds_batchnorm(variant)
    assert count_parameters(variant) == count_parameters(paper) == 343_434
    # evaluation is deterministic and the remaining dropout is active in training
    variant.train()
    x = torch.rand(64, 3, 7, 7) * 1e15
    with torch.no_grad():
        assert not torch.equal(variant(x), variant(x))
        variant.eval()
        assert torch.equal(variant(x), variant(x))


def test_layer_output_sizes_follow_table_a1():
    model = ZhangNgan2019GND().eval()
    x = model.input_norm(model.scale_input(torch.rand(2, 3, 7, 7) * 1e15))
    cat = torch.cat([model.branch1(x), model.branch2(x), model.branch3(x)], 1)
    assert cat.shape == (2, 75, 7, 7)
    shapes = []
    h = cat
    for layer in model.trunk:
        h = layer(h)
        shapes.append(tuple(h.shape[1:]))
    assert shapes[:8] == [(c, 7, 7) for c in range(30, 66, 5)]
    assert shapes[8:] == [(70, 6, 6), (75, 5, 5), (80, 4, 4), (85, 3, 3), (90, 2, 2), (95, 1, 1)]


def test_unknown_model_lists_known_names():
    with pytest.raises(UnknownNameError, match="zhang2019-gnd"):
        create_model("resnet-does-not-exist")


def test_unknown_config_key():
    with pytest.raises(InvalidParameterError, match="width"):
        create_model("zhang2019-gnd", width=3)


def test_invalid_model_options():
    with pytest.raises(InvalidParameterError):
        ZhangNgan2019GND(dropout=1.5)
    with pytest.raises(InvalidParameterError):
        ZhangNgan2019GND(input_transform="log")


def test_forward_rejects_wrong_shape():
    with pytest.raises(ShapeError):
        ZhangNgan2019GND()(torch.zeros(2, 2, 7, 7))


def test_target_transform_round_trip():
    rho = np.array([1e13, 1e15, 5e16])
    z = rho_to_target(rho)
    unit = 1.0 / (3 / 7 * 1e-6 * 3e-10)  # the default unit is 1 / (s b) of the paper's text
    np.testing.assert_allclose(z, np.log1p(rho / unit))
    np.testing.assert_allclose(rho_to_target(rho, 1e15), np.log1p(rho / 1e15))
    np.testing.assert_allclose(target_to_rho(z), rho, rtol=1e-12)
    zt = rho_to_target(torch.tensor(rho))
    np.testing.assert_allclose(target_to_rho(zt).numpy(), rho, rtol=1e-12)


def test_input_scaling_is_fixed_asinh():
    model = ZhangNgan2019GND(rho_unit_per_m2=1e15)
    x = torch.tensor([-2e15, 0.0, 1e15])
    np.testing.assert_allclose(model.scale_input(x).numpy(), np.arcsinh([-2.0, 0.0, 1.0]),
                               rtol=1e-6)
    lin = ZhangNgan2019GND(input_transform="linear", rho_unit_per_m2=1e14)
    np.testing.assert_allclose(lin.scale_input(x).numpy(), [-20.0, 0.0, 10.0], rtol=1e-6)


def test_window_validation():
    good = np.zeros((2, 7, 7, 3))
    assert windows_to_tensor(good).shape == (2, 3, 7, 7)
    with pytest.raises(ShapeError):
        check_gnd_windows(np.zeros((2, 3, 7, 7)))
    bad = good.copy()
    bad[0, 1, 1, 1] = np.nan
    with pytest.raises(NonFiniteError):
        check_gnd_windows(bad)


def test_save_load_round_trip(tmp_path):
    model = create_model("zhang2019-gnd", dropout=0.3).eval()
    path = save_model(model, tmp_path / "m.pt", extra={"note": "x"})
    loaded, extra = load_model(path, device="cpu")
    assert extra == {"note": "x"}
    assert loaded.model_cfg == {"dropout": 0.3}
    x = torch.rand(4, 3, 7, 7) * 1e15
    with torch.no_grad():
        torch.testing.assert_close(model(x), loaded(x), rtol=0, atol=0)


def test_load_rejects_bad_file(tmp_path):
    with pytest.raises(DataFileError):
        load_model(tmp_path / "missing.pt")
    torch.save({"format": "other"}, tmp_path / "x.pt")
    with pytest.raises(DataFileError):
        load_model(tmp_path / "x.pt")
