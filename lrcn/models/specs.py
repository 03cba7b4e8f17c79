"""What each model family is, as torch-free data: the one place that answers "which families
exist" and "what does this family need" (normalisation, a frozen backbone, which options apply).

CLIs, reports and the bench read these specs, so `vc-train --help` never imports torch. The
nn builder of a family lives in the module a spec names and is imported only when a model is
built (see registry.build_model). Adding a family: one module with an `@register_model(name)`
builder, and one `FamilySpec(...)` entry in `lrcn.models.families.BUILTIN` (or a
`register_family(FamilySpec(...))` call from the family's own code, as tests/toy_family.py does).
"""

from __future__ import annotations

from lrcn.models.families import BUILTIN, NORMALISATIONS, FamilySpec

__all__ = ["NORMALISATIONS", "FamilySpec", "family_names", "family_spec", "register_family"]

_FAMILIES: dict[str, FamilySpec] = {spec.name: spec for spec in BUILTIN}


def register_family(spec: FamilySpec) -> FamilySpec:
    if spec.name in _FAMILIES:
        raise ValueError(f"family {spec.name!r} is already registered")
    _FAMILIES[spec.name] = spec
    return spec


def _registered() -> dict[str, FamilySpec]:
    return _FAMILIES


def family_names() -> tuple[str, ...]:
    """Every registered family, in registration order (the built-in three first)."""
    return tuple(_registered())


def family_spec(name: str) -> FamilySpec:
    families = _registered()
    if name not in families:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(families)}")
    return families[name]
