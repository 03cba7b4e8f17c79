"""Model code only: encoders, the LSTM head, the registry (torch)."""

from lrcn.models import families as _families  # noqa: F401 - registers the families
from lrcn.models.config import BACKBONES, NORMS, ModelConfig
from lrcn.models.lrcn import LRCN
from lrcn.models.registry import build_model, list_models, register_model

__all__ = ["BACKBONES", "NORMS", "LRCN", "ModelConfig", "build_model", "list_models", "register_model"]
