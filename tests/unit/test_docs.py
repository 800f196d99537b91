"""The docs say only what the code has: every relative link resolves, every `MMX_*` variable
is read by some setting or by the code, every `make` target and `python -m` module exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from libs.common.secrets.settings import SecretsSettings
from libs.common.venue.config import VenueConfig
from services.gateway.settings import GatewaySettings
from services.positions.settings import PositionsSettings
from services.risk.settings import RiskSettings
from services.router.credentials import CredentialSettings
from services.router.settings import RouterSettings
from services.venue_sim.settings import SimSettings

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
SETTINGS: tuple[type[BaseSettings], ...] = (
    GatewaySettings,
    RiskSettings,
    RouterSettings,
    PositionsSettings,
    VenueConfig,
    SimSettings,
    SecretsSettings,
    CredentialSettings,
)
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
ENV = re.compile(r"\b(MMX_[A-Z0-9_]*[A-Z0-9])\b")
MAKE = re.compile(r"`make ([a-z][a-z0-9-]*)")
MODULE = re.compile(r"python -m ([a-z_][a-z0-9_.]*)")


def _env_names() -> set[str]:
    """Every variable a setting reads, and every `MMX_*` name the code spells out."""
    names: set[str] = set()
    for settings in SETTINGS:
        prefix = str(settings.model_config.get("env_prefix", ""))
        for name, field in settings.model_fields.items():
            names.add(f"{prefix}{name}".upper())
            if isinstance(field.validation_alias, str):
                names.add(field.validation_alias.upper())
            if isinstance(field.alias, str):
                names.add(field.alias.upper())
    for folder in ("libs", "services", "bench", "scripts"):
        for path in (ROOT / folder).rglob("*.py"):
            names |= set(ENV.findall(path.read_text()))
    return names


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(doc: Path) -> None:
    inside = [  # a link out of the repository (../shared) is not this checkout's to check
        target
        for target in LINK.findall(doc.read_text())
        if "://" not in target
        and not target.startswith("mailto:")
        and (doc.parent / target).resolve().is_relative_to(ROOT)
    ]
    broken = [target for target in inside if not (doc.parent / target).exists()]
    assert broken == [], f"{doc.name} links to missing files"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_variable_named_is_read_by_the_code(doc: Path) -> None:
    unknown = sorted(set(ENV.findall(doc.read_text())) - _env_names())
    assert unknown == [], f"{doc.name} names variables nothing reads"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_make_target_and_module_named_exists(doc: Path) -> None:
    text = doc.read_text()
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, re.MULTILINE))
    missing = sorted(set(MAKE.findall(text)) - targets)
    modules = MODULE.findall(text)
    missing += [
        m
        for m in modules
        if not (ROOT / m.replace(".", "/")).with_suffix(".py").exists()
        and not (ROOT / m.replace(".", "/") / "__main__.py").exists()
        and not m.startswith(("pytest", "pip", "venv", "mypy", "ruff"))
    ]
    assert missing == [], f"{doc.name} names commands that do not exist"
