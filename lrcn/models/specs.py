"""What each model family is, as torch-free data: the one place that answers "which families
exist" and "what does this family need" (normalisation, a frozen backbone, which options apply).

CLIs, reports and the bench read these specs, so `vc-train --help` never imports torch. The
nn builder of a family lives in the module a spec names and is imported only when a model is
built (see registry.build_model). Adding a family: one module with an `@register_model(name)`
builder, and one `register_family(FamilySpec(...))` line in `lrcn.models.families`.
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


_FAMILIES: dict[str, FamilySpec] = {}


def register_family(spec: FamilySpec) -> FamilySpec:
    if spec.name in _FAMILIES:
        raise ValueError(f"family {spec.name!r} is already registered")
    _FAMILIES[spec.name] = spec
    return spec


def _registered() -> dict[str, FamilySpec]:
    import lrcn.models.families  # noqa: F401 - the built-in registrations, on first use

    return _FAMILIES


def family_names() -> tuple[str, ...]:
    """Every registered family, in registration order (the built-in three first)."""
    return tuple(_registered())


def family_spec(name: str) -> FamilySpec:
    families = _registered()
    if name not in families:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(families)}")
    return families[name]
