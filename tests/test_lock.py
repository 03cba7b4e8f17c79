"""requirements.lock: it pins every dependency pyproject.toml declares for the extras `make` installs,
within pyproject's ranges, with hashes; and the environment the tests run in is the lock's."""

import os
import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def locked_extras() -> list[str]:
    """The extras the Makefile installs (`EXTRAS := ...`), which `make lock` resolves."""
    line = next(ln for ln in (ROOT / "Makefile").read_text().splitlines() if ln.startswith("EXTRAS :="))
    return line.split(":=", 1)[1].split()


def lock_pins() -> dict[str, list[tuple[str, str | None, int]]]:
    """name -> [(version, marker or None, number of hashes)] as written in requirements.lock."""
    pins: dict[str, list[tuple[str, str | None, int]]] = {}
    current = None
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        m = PIN.match(line)
        if m:
            current = (canonicalize_name(m[1]), m[2], m[3])
            pins.setdefault(current[0], []).append((m[2], m[3], 0))
        elif current and line.strip().startswith("--hash=sha256:"):
            version, marker, n = pins[current[0]][-1]
            pins[current[0]][-1] = (version, marker, n + 1)
    return pins


def applies(marker: str | None, extra: str = "") -> bool:
    env = {**default_environment(), "extra": extra}
    return marker is None or Requirement(f"x; {marker}").marker.evaluate(env)  # type: ignore[union-attr]


def locked_version(pins, name: str) -> str | None:
    for version, marker, _ in pins.get(canonicalize_name(name), []):
        if applies(marker):
            return version
    return None


def declared() -> list[tuple[str, Requirement]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [("", Requirement(r)) for r in project["dependencies"]]
    for extra in locked_extras():
        reqs += [(extra, Requirement(r)) for r in project["optional-dependencies"][extra]]
    return reqs


def test_every_locked_pin_has_a_hash():
    pins = lock_pins()
    assert len(pins) > 20
    assert all(n >= 1 for entries in pins.values() for _, _, n in entries)


def test_the_lock_pins_every_declared_dependency_within_its_range():
    pins = lock_pins()
    for extra, req in declared():
        if not applies(str(req.marker) if req.marker else None, extra):
            continue  # another platform's package (onnxruntime against onnxruntime-gpu)
        version = locked_version(pins, req.name)
        assert version is not None, f"{req.name} ({extra or 'core'}) is not in requirements.lock: run make lock"
        assert req.specifier.contains(version, prereleases=True), (
            f"lock has {req.name}=={version}, pyproject says {req}"
        )


@pytest.mark.skipif(os.environ.get("LRCN_UNLOCKED") == "1", reason="make test-latest runs without the lock")
def test_the_environment_is_the_lock():
    pins = lock_pins()
    drift = []
    for name in pins:
        version = locked_version(pins, name)
        if version is None:
            continue
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            drift.append(f"{name} missing (lock {version})")
            continue
        if installed != version:
            drift.append(f"{name} {installed} (lock {version})")
    assert not drift, "the venv is not the lock (make setup after touching the venv): " + ", ".join(drift)
