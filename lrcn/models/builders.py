"""nn builders of the three built-in families (their specs: lrcn.models.families)."""

from __future__ import annotations

from lrcn.models.backbones import load_backbone
from lrcn.models.config import ModelConfig
from lrcn.models.encoders import ConvEncoder, PretrainedEncoder, SmallResNetEncoder
from lrcn.models.lrcn import LRCN
from lrcn.models.registry import register_model


@register_model("convlstm")
def convlstm(cfg: ModelConfig, load_weights: bool = True) -> LRCN:
    return LRCN(cfg, ConvEncoder(cfg.in_channels, cfg.latent_dim, cfg.img_size, cfg.norm))


@register_model("resnetlstm")
def resnetlstm(cfg: ModelConfig, load_weights: bool = True) -> LRCN:
    return LRCN(cfg, SmallResNetEncoder(cfg.in_channels, cfg.latent_dim, cfg.img_size, cfg.norm))


@register_model("pretrained")
def pretrained(cfg: ModelConfig, load_weights: bool = True) -> LRCN:
    backbone, feat_dim = load_backbone(cfg.backbone, cfg.backbone_weights, load_weights=load_weights)
    return LRCN(cfg, PretrainedEncoder(backbone, feat_dim, cfg.in_channels, cfg.latent_dim))
