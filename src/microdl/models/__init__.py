"""Plain torch models and a registry: ``create_model(name, **cfg)``, ``list_models()``."""

from microdl.models import damage as _damage  # noqa: F401  (registers presets)
from microdl.models import gnd_anchored as _gnd_anchored  # noqa: F401  (registers presets)
from microdl.models import gnd_ensemble as _gnd_ensemble  # noqa: F401  (registers presets)
from microdl.models import gnd_fcn as _gnd_fcn  # noqa: F401  (registers presets)
from microdl.models import micrograph as _micrograph  # noqa: F401  (registers presets)
from microdl.models import yang2020 as _yang2020  # noqa: F401  (registers presets)
from microdl.models import zhang2019 as _zhang2019  # noqa: F401  (registers presets)
from microdl.models.registry import (
    MODELS,
    create_model,
    list_models,
    load_model,
    model_factory,
    model_info,
    register_model,
    save_model,
)
from microdl.models.zhang2019 import (
    ZhangNgan2019GND,
    count_parameters,
    rho_to_target,
    target_to_rho,
)

__all__ = [
    "MODELS",
    "create_model",
    "list_models",
    "model_factory",
    "model_info",
    "register_model",
    "save_model",
    "load_model",
    "ZhangNgan2019GND",
    "count_parameters",
    "rho_to_target",
    "target_to_rho",
]
