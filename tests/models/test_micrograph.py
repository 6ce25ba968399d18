"""The micrograph encoder: shapes, unit norm, invariance to gray scale and offset, shared blocks."""

from __future__ import annotations

import pytest
import torch

from microdl.exceptions import InvalidParameterError, ShapeError
from microdl.models import create_model
from microdl.models.micrograph import MicrographEncoder, standardise_crops
from microdl.models.resnet import ResidualModule, ResNetBackbone
from microdl.models.yang2020 import Yang2020ResNet


@pytest.mark.parametrize("name", ["micrograph-resnet", "micrograph-resnet-small"])
def test_presets_give_unit_embeddings_of_any_crop_size(name):
    enc = create_model(name).eval()
    for side in (48, 96):
        z = enc(torch.rand(3, 1, side, side, generator=torch.Generator().manual_seed(side)))
        assert z.shape == (3, enc.embedding_dim)
        assert torch.allclose(z.norm(dim=1), torch.ones(3), atol=1e-5)


def test_embedding_ignores_brightness_and_contrast():
    enc = create_model("micrograph-resnet-small").eval()
    x = torch.rand(2, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(enc(x), enc(3.0 * x + 40.0), atol=1e-4)  # 8-bit scale, offset: same vector
    s = standardise_crops(x * 200 + 5)
    assert torch.allclose(s.mean(dim=(1, 2, 3)), torch.zeros(2), atol=1e-5)
    assert torch.allclose(s.std(dim=(1, 2, 3), unbiased=False), torch.ones(2), atol=1e-4)


def test_classifier_head_and_errors():
    enc = MicrographEncoder((8, 16), 1, 1, 8, embedding_dim=4, n_classes=3).eval()
    assert enc.classify(torch.rand(2, 1, 32, 32)).shape == (2, 3)
    with pytest.raises(InvalidParameterError, match="no classifier"):
        create_model("micrograph-resnet-small").classify(torch.rand(1, 1, 32, 32))
    with pytest.raises(InvalidParameterError, match="embedding_dim"):
        MicrographEncoder(embedding_dim=0)
    with pytest.raises(ShapeError, match=r"\(n, 1, H, W\)"):
        enc(torch.rand(2, 3, 32, 32))


def test_the_encoder_and_the_strain_resnet_share_one_backbone():
    assert issubclass(MicrographEncoder, ResNetBackbone) and issubclass(Yang2020ResNet, ResNetBackbone)
    enc, yang = create_model("micrograph-resnet"), create_model("yang2020-resnet")
    assert any(isinstance(m, ResidualModule) for m in enc.modules())
    assert any(isinstance(m, ResidualModule) for m in yang.modules())
    # the published Keras layer names still map onto the strain network's parameters
    assert {"stem_conv.weight", "stem_bn.running_mean", "fc.weight"} <= set(yang.state_dict())
