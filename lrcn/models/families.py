"""The family list: one `FamilySpec` a family (torch-free; builders load on first build).

`specs` registers `BUILTIN` and answers the questions about families; this module is the data
and its type only, so the arrow runs one way (specs -> families).
"""

from __future__ import annotations

from dataclasses import dataclass

NORMALISATIONS = ("imagenet", "simple")


@dataclass(frozen=True)
class FamilySpec:
    name: str
    module: str
    """Import path of the module whose `@register_model(name)` builds this family's nn.Module."""
    summary: str = ""
    """A few words for help texts."""
    normalisation: str = "simple"
    """Input statistics: "imagenet" for ImageNet-trained backbones, "simple" (0.5/0.5) otherwise."""
    frozen_backbone: bool = False
    """Part of the encoder never trains, so its features can be cached per clip."""
    options: tuple[str, ...] = ()
    """ModelConfig fields (and so CLI options) this family reads beyond the shared ones."""

    def __post_init__(self) -> None:
        if self.normalisation not in NORMALISATIONS:
            raise ValueError(
                f"family {self.name!r}: normalisation must be one of {', '.join(NORMALISATIONS)}, "
                f"got {self.normalisation!r}"
            )

    @property
    def has_backbone(self) -> bool:
        """Reports show a backbone column for it (elsewhere the default backbone would mislead)."""
        return "backbone" in self.options


CUSTOM_CNN = ("norm",)
BACKBONE = ("backbone", "backbone_weights")

BUILTIN: tuple[FamilySpec, ...] = (
    FamilySpec("convlstm", "lrcn.models.builders", "the lab's 4-layer CNN", options=CUSTOM_CNN),
    FamilySpec("resnetlstm", "lrcn.models.builders", "a small ResNet trained from scratch", options=CUSTOM_CNN),
    FamilySpec(
        "pretrained",
        "lrcn.models.builders",
        "a frozen torchvision ResNet",
        normalisation="imagenet",
        frozen_backbone=True,
        options=BACKBONE,
    ),
)
"""The built-in families, in the order help texts list them."""
