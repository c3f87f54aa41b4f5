"""The dependencies: bounded in pyproject.toml, pinned with hashes in requirements.lock, and the
virtual environment the tests run in installed from that lock (`make` does it; `make lock`
regenerates the lock after pyproject.toml changes). Fast and offline: it only reads files."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
UPPER_BOUND_OPERATORS = {"<", "<=", "==", "===", "~="}


@dataclass(frozen=True)
class Pin:
    line: int
    requirement: str
    hashes: tuple[str, ...]


@cache
def pyproject() -> dict:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


@cache
def declared() -> list[Requirement]:
    """Every requirement pyproject.toml declares: runtime, each extra, and the build system (the
    Makefile builds the project with the locked setuptools, without build isolation)."""
    data = pyproject()
    strings = [
        *data["project"]["dependencies"],
        *(r for extra in data["project"]["optional-dependencies"].values() for r in extra),
        *data["build-system"]["requires"],
    ]
    return [Requirement(r) for r in strings]


@cache
def lock_entries() -> list[Pin]:
    """The lock's requirements, one per logical line (continuations joined, comments dropped)."""
    entries: list[Pin] = []
    current: list[str] = []
    start = 0
    for number, raw in enumerate(LOCK.read_text(encoding="utf-8").splitlines(), start=1):
        text = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not text:
            continue
        if not current:
            start = number
        current.append(text.removesuffix("\\").strip())
        if not text.endswith("\\"):
            words = " ".join(current).split()
            hashes = tuple(w.removeprefix("--hash=") for w in words if w.startswith("--hash="))
            rest = " ".join(w for w in words if not w.startswith("--hash="))
            entries.append(Pin(start, rest, hashes))
            current = []
    assert not current, f"{LOCK.name} ends inside a continued line"
    return entries


@cache
def locked() -> dict[NormalizedName, Version]:
    pins: dict[NormalizedName, Version] = {}
    for entry in lock_entries():
        requirement = Requirement(entry.requirement)
        (spec,) = requirement.specifier
        pins[canonicalize_name(requirement.name)] = Version(spec.version)
    return pins


def test_every_dependency_has_an_upper_bound() -> None:
    unbounded = [
        str(r)
        for r in declared()
        if not any(spec.operator in UPPER_BOUND_OPERATORS for spec in r.specifier)
    ]
    assert not unbounded, f"no upper bound in pyproject.toml: {unbounded}"


def test_every_line_of_the_lock_is_an_exact_pin_with_hashes() -> None:
    assert lock_entries(), f"{LOCK.name} pins nothing"
    bad = []
    for entry in lock_entries():
        try:
            requirement = Requirement(entry.requirement)
        except ValueError:
            bad.append(f"line {entry.line}: not a requirement: {entry.requirement}")
            continue
        specs = list(requirement.specifier)
        if len(specs) != 1 or specs[0].operator != "==" or "*" in specs[0].version:
            bad.append(f"line {entry.line}: not pinned with ==: {entry.requirement}")
        if requirement.url or requirement.extras:
            bad.append(f"line {entry.line}: a URL or extras: {entry.requirement}")
        if not entry.hashes or not all(
            re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in entry.hashes
        ):
            bad.append(f"line {entry.line}: no sha256 hash: {entry.requirement}")
    assert not bad, "\n".join(bad)
    names = [canonicalize_name(Requirement(e.requirement).name) for e in lock_entries()]
    assert len(names) == len(set(names)), "a package is pinned twice"
    assert "yingji" not in names, "the project itself is installed with --no-deps -e ., not locked"


def test_every_declared_dependency_is_pinned_in_the_lock_within_its_bounds() -> None:
    """A dependency added to pyproject.toml, or a bound moved past its pin, needs `make lock`."""
    pins = locked()
    missing = [str(r) for r in declared() if canonicalize_name(r.name) not in pins]
    assert not missing, f"not in {LOCK.name} (run `make lock`): {missing}"
    outside = [
        f"{r} but {LOCK.name} has {pins[canonicalize_name(r.name)]}"
        for r in declared()
        if not r.specifier.contains(pins[canonicalize_name(r.name)], prereleases=True)
    ]
    assert not outside, "run `make lock`:\n" + "\n".join(outside)


def test_the_extras_of_declared_dependencies_are_locked_too() -> None:
    """--strip-extras writes `sqlalchemy`, not `sqlalchemy[asyncio]`: what the extra pulls in
    (greenlet) must be pinned on its own line."""
    environment = default_environment()
    missing = []
    for requirement in declared():
        for extra in requirement.extras:
            try:
                needs = importlib.metadata.requires(requirement.name) or []
            except importlib.metadata.PackageNotFoundError:
                continue  # test_the_installed_versions_are_the_locked_ones names it
            for dependency in map(Requirement, needs):
                marker = dependency.marker
                if marker and marker.evaluate({**environment, "extra": extra}):
                    if canonicalize_name(dependency.name) not in locked():
                        missing.append(f"{dependency.name} (for {requirement.name}[{extra}])")
    assert not missing, f"not in {LOCK.name}: {missing}"


def test_the_installed_versions_are_the_locked_ones() -> None:
    """Every package the lock pins is installed at that version: a venv older than the lock (run
    `make`, whose install step depends on the lock) or a lock older than the venv fails here."""
    wrong = []
    for name, version in sorted(locked().items()):
        try:
            installed = Version(importlib.metadata.version(name))
        except importlib.metadata.PackageNotFoundError:
            wrong.append(f"{name}: locked {version}, not installed")
            continue
        if installed != version:
            wrong.append(f"{name}: locked {version}, installed {installed}")
    assert not wrong, "the environment is not the lock's (run `make`):\n" + "\n".join(wrong)


def test_make_installs_from_the_lock_with_hashes() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert f"LOCK := {LOCK.name}" in makefile
    assert re.search(r"^\$\(STAMP\): pyproject\.toml \$\(LOCK\)$", makefile, re.M)
    assert "pip install --quiet --require-hashes -r $(LOCK)" in makefile
    assert re.search(r"pip install .*--no-deps .*-e \.$", makefile, re.M)
    assert re.search(r"^lock:", makefile, re.M)
