"""The docs say only what the code has, and the code has nothing the docs leave out.

Checked in README.md and docs/**/*.md, each failure named by file and line:
- every relative link resolves to a file inside the repository, and its `#anchor` to a
  heading of the target; no doc points at `../shared/` (outside this checkout);
- every `mmx <command> [<subcommand>] [--option]` in code exists in `services.cli.build_parser`;
- every `make <target>` exists in the Makefile and every `python -m <module>` in the tree;
- every environment variable named (`MMX_*`, `REDIS_*`, `SECRETS_*`, `BYBIT_*`, `GRAFANA_*`)
  is read by a settings class, or spelled out in the code, docker-compose.yml, the Makefile,
  the Dockerfile or deploy/;
- every variable a settings class reads (pydantic-settings: `env_prefix` + field name, or
  the field's alias) is named in some doc. `MMX_{SERVICE}_NAME` (or `MMX_<SERVICE>_NAME`)
  names it for each service's prefix (GATEWAY, RISK, ROUTER, POSITIONS).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from libs.common.service import ServiceSettings
from services.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
CODE_DIRS = ("libs", "services", "bench", "scripts", "examples")
"""Where the code that reads the environment lives."""
SETTINGS_DIRS = ("libs", "services")
TEST_PLUGINS = ("redis_fixture", "redis_cluster", "redis_sentinel")
"""The suite's plugins that read where its Redis is (`REDIS_URL`, `REDIS_CLUSTER_URL`)."""

LINK = re.compile(r"\]\(([^)\s]*)\)")
ENV = re.compile(r"(?<![\w{<])((?:MMX|REDIS|SECRETS|BYBIT|GRAFANA)_[A-Z0-9_]*[A-Z0-9])\b")
MMX = re.compile(r"(?:^\s*|[;&|(]\s*|\$ )(?:[\w./-]*/)?mmx ([a-z][a-z-]*)")
"""`mmx verb` where a shell command starts (not `user mmx on` of an ACL rule)."""
OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")
MAKE = re.compile(r"(?<![\w./-])make ([a-z][a-z0-9-]*)")
MODULE = re.compile(r"python -m ([a-z_][a-z0-9_.]*)")
NOT_OURS = ("pytest", "pip", "venv", "mypy", "ruff")
"""`python -m` modules of tools, not of this repository."""
SERVICE_TEMPLATE = re.compile(r"MMX_(?:\{SERVICE\}|<SERVICE>)_([A-Z0-9_]*[A-Z0-9])")
FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"(`+)(.+?)\1", re.DOTALL)
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


@dataclass(frozen=True, slots=True)
class Doc:
    """A markdown file split into prose (fenced blocks blanked, offsets kept) and code."""

    path: Path
    text: str
    prose: str
    code: tuple[tuple[int, str], ...]
    """(line, text) of every inline code span and every line of a fenced block."""

    @classmethod
    def read(cls, path: Path) -> Doc:
        text = path.read_text()
        prose_lines: list[str] = []
        fenced: list[tuple[int, str]] = []
        inside = False
        for number, line in enumerate(text.split("\n"), start=1):
            if FENCE.match(line):
                inside = not inside
                prose_lines.append("")
            elif inside:
                fenced.append((number, line))
                prose_lines.append(" " * len(line))
            else:
                prose_lines.append(line)
        prose = "\n".join(prose_lines)
        spans = [
            (prose.count("\n", 0, match.start()) + 1, match.group(2).replace("\n", " "))
            for match in INLINE_CODE.finditer(prose)
        ]
        return cls(path, text, prose, tuple(sorted(spans + fenced)))

    def line_of(self, offset: int) -> int:
        return self.text.count("\n", 0, offset) + 1

    def where(self, line: int) -> str:
        return f"{_rel(self.path)}:{line}"

    def anchors(self) -> set[str]:
        """GitHub's ids of the headings: lower case, punctuation dropped, spaces to hyphens,
        `-1`, `-2` ... for repeats."""
        seen: dict[str, int] = {}
        ids: set[str] = set()
        for line in self.prose.split("\n"):
            if match := HEADING.match(line):
                title = re.sub(r"[`*]|\[([^\]]*)\]\([^)]*\)", r"\1", match.group(2))
                slug = re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")
                count = seen.get(slug, 0)
                seen[slug] = count + 1
                ids.add(slug if count == 0 else f"{slug}-{count}")
        return ids


def _doc_ids(doc: Path) -> str:
    return _rel(doc)


def _expect_none(failures: list[str], what: str) -> None:
    """Fail with one line per failure (file:line: what is wrong), without pytest's diff."""
    if failures:
        pytest.fail(f"{len(failures)} {what}:\n  " + "\n  ".join(failures), pytrace=False)


# -- links ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", DOCS, ids=_doc_ids)
def test_every_relative_link_resolves_inside_the_repository(path: Path) -> None:
    doc = Doc.read(path)
    failures: list[str] = []
    for match in LINK.finditer(doc.prose):
        target = match.group(1)
        if "://" in target or target.startswith("mailto:"):
            continue
        where = doc.where(doc.line_of(match.start()))
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.is_relative_to(ROOT):
            failures.append(f"{where}: {target} is outside the repository; expected a file in it")
        elif not resolved.exists():
            failures.append(f"{where}: {target} does not exist")
        elif anchor and resolved.suffix == ".md" and anchor not in Doc.read(resolved).anchors():
            failures.append(f"{where}: {target}: {_rel(resolved)} has no heading #{anchor}")
    _expect_none(failures, "broken links")


@pytest.mark.parametrize("path", DOCS, ids=_doc_ids)
def test_no_doc_points_outside_the_checkout(path: Path) -> None:
    lines = path.read_text().split("\n")
    failures = [
        f"{_rel(path)}:{number}: names ../shared/, which is not in this repository; the "
        "contract is docs/design.md"
        for number, line in enumerate(lines, start=1)
        if "../shared/" in line
    ]
    _expect_none(failures, "references outside the checkout")


# -- commands ---------------------------------------------------------------------------------


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> set[str]:
    """The options of `parser` and of every subcommand below it."""
    found = {option for action in parser._actions for option in action.option_strings}
    for child in _subcommands(parser).values():
        found |= _options(child)
    return found


def _check_segment(
    words: list[str], level: dict[str, argparse.ArgumentParser], names: str
) -> tuple[list[str], dict[str, argparse.ArgumentParser]]:
    """Check `verb [subverb] [--options]` against `level`; return the problems and the level
    the verb was found at (a `|` alternative is a sibling of the last verb named)."""
    if not words or not re.fullmatch(r"[a-z][a-z-]*", words[0]):
        return [], level
    verb, rest = words[0], words[1:]
    if verb not in level:
        return [f"`{names} {verb}`: no such command (have: {', '.join(sorted(level))})"], level
    parser, found_at = level[verb], level
    children = _subcommands(parser)
    if children and rest and re.fullmatch(r"[a-z][a-z-]*", rest[0]):
        if rest[0] not in children:
            known = ", ".join(sorted(children))
            return [f"`{names} {verb} {rest[0]}`: no such subcommand (have: {known})"], level
        parser, found_at, names = children[rest[0]], children, f"{names} {verb}"
    options = _options(parser)
    problems = [
        f"`{names} {verb}`: no option {option}"
        for option in OPTION.findall(" ".join(rest))
        if option not in options
    ]
    return problems, found_at


def _command_problems(code: str, top: dict[str, argparse.ArgumentParser]) -> Iterator[str]:
    for match in MMX.finditer(code):
        tail = re.split(r"\s#|;|&&|\)", code[match.start(1) :])[0].replace("\\|", "|")
        level = top
        for index, segment in enumerate(tail.split(" | ")):
            words = segment.split()
            if index > 0 and level is top and words and words[0] not in top:
                break  # a shell pipe into another program
            problems, found_at = _check_segment(words, level, "mmx")
            yield from problems
            level = found_at


@pytest.mark.parametrize("path", DOCS, ids=_doc_ids)
def test_every_mmx_command_named_exists(path: Path) -> None:
    doc = Doc.read(path)
    top = _subcommands(build_parser())
    failures = [
        f"{doc.where(line)}: {problem}"
        for line, code in doc.code
        for problem in _command_problems(code, top)
    ]
    _expect_none(failures, "mmx commands that do not exist")


@pytest.mark.parametrize("path", DOCS, ids=_doc_ids)
def test_every_make_target_and_module_named_exists(path: Path) -> None:
    doc = Doc.read(path)
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, re.MULTILINE))
    failures: list[str] = []
    for line, code in doc.code:
        failures += [
            f"{doc.where(line)}: `make {target}`: no such Makefile target"
            for target in MAKE.findall(code)
            if target not in targets
        ]
        for module in MODULE.findall(code):
            stem = ROOT / module.replace(".", "/")
            if module.startswith(NOT_OURS):
                continue
            if not stem.with_suffix(".py").exists() and not (stem / "__main__.py").exists():
                failures.append(f"{doc.where(line)}: `python -m {module}`: no such module")
    _expect_none(failures, "commands that do not exist")


# -- environment variables --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Setting:
    """One field of a settings class and the variables that set it."""

    names: tuple[str, ...]
    owner: str
    """`GatewaySettings.wait_max_ms (services/gateway/settings.py:25)`."""


@cache
def _settings_classes() -> list[type[BaseSettings]]:
    """Every BaseSettings subclass declared in libs/ and services/ that no other extends."""
    found: dict[str, type[BaseSettings]] = {}
    for folder in SETTINGS_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.name == "__main__.py" or "Settings" not in path.read_text():
                continue
            module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
            for value in vars(module).values():
                if (
                    inspect.isclass(value)
                    and issubclass(value, BaseSettings)
                    and value is not BaseSettings
                    and value.__module__ == module.__name__
                ):
                    found[f"{value.__module__}.{value.__qualname__}"] = value
    classes = list(found.values())
    # a base (ServiceSettings) is read only through its subclasses' prefixes
    return [cls for cls in classes if not any(o is not cls and issubclass(o, cls) for o in classes)]


def _field_line(cls: type[BaseSettings], field: str) -> str:
    for klass in cls.__mro__:
        if field in getattr(klass, "__annotations__", {}):
            lines, start = inspect.getsourcelines(klass)
            for offset, text in enumerate(lines):
                if re.match(rf"\s+{field}\s*:", text):
                    path = Path(inspect.getfile(klass)).resolve()
                    return f"{_rel(path)}:{start + offset}"
    return "?"


@cache
def _settings() -> list[Setting]:
    result: list[Setting] = []
    for cls in _settings_classes():
        prefix = str(cls.model_config.get("env_prefix", ""))
        for name, field in cls.model_fields.items():
            annotation = field.annotation
            if inspect.isclass(annotation) and issubclass(annotation, BaseSettings):
                continue  # a nested settings object reads its own variables
            alias = field.validation_alias or field.alias
            if isinstance(alias, AliasChoices):
                names = tuple(c.upper() for c in alias.choices if isinstance(c, str))
            elif isinstance(alias, str):
                names = (alias.upper(),)
            else:
                names = (f"{prefix}{name}".upper(),)
            owner = f"{cls.__name__}.{name} ({_field_line(cls, name)})"
            result.append(Setting(names, owner))
    return result


def _service_prefixes() -> list[str]:
    return [
        str(cls.model_config.get("env_prefix", ""))
        for cls in _settings_classes()
        if issubclass(cls, ServiceSettings) and cls is not ServiceSettings
    ]


@cache
def _names_read() -> set[str]:
    """Every variable a setting reads, and every name the code or the deployment spells."""
    names = {name for setting in _settings() for name in setting.names}
    files = [path for folder in CODE_DIRS for path in (ROOT / folder).rglob("*.py")]
    files += list((ROOT / "scripts").rglob("*.sh"))
    files += [ROOT / "docker-compose.yml", ROOT / "Makefile", ROOT / "Dockerfile"]
    files += [ROOT / "tests" / f"{plugin}.py" for plugin in TEST_PLUGINS]
    files += [  # an example of a value is not a reader of it
        path
        for path in (ROOT / "deploy").rglob("*")
        if path.is_file() and "example" not in path.name
    ]
    for path in files:
        if path.exists():
            names |= set(ENV.findall(path.read_text(errors="replace")))
    return names


@cache
def _named_in_docs() -> set[str]:
    """Every variable the docs name, templates expanded for each service prefix."""
    names: set[str] = set()
    prefixes = _service_prefixes()
    for path in DOCS:
        text = path.read_text()
        names |= set(ENV.findall(text))
        for suffix in SERVICE_TEMPLATE.findall(text):
            names |= {f"{prefix}{suffix}" for prefix in prefixes}
    return names


def test_the_settings_classes_are_all_found() -> None:
    found = {cls.__name__ for cls in _settings_classes()}
    expected = {"GatewaySettings", "RiskSettings", "RouterSettings", "PositionsSettings"}
    expected |= {"VenueConfig", "SimSettings", "SecretsSettings", "CredentialSettings"}
    assert expected <= found, f"settings classes not found: {sorted(expected - found)}"


@pytest.mark.parametrize("path", DOCS, ids=_doc_ids)
def test_every_variable_named_is_read_by_the_code(path: Path) -> None:
    read = _names_read()
    failures = [
        f"{_rel(path)}:{number}: {name} is read by no setting, code or deployment file"
        for number, line in enumerate(path.read_text().split("\n"), start=1)
        for name in ENV.findall(line)
        if name not in read
    ]
    _expect_none(failures, "variables nothing reads")


def test_every_variable_a_setting_reads_is_named_in_the_docs() -> None:
    named = _named_in_docs()
    failures = [
        f"{setting.owner}: {' or '.join(setting.names)} is named in no doc (README.md, docs/)"
        for setting in _settings()
        if not set(setting.names) & named
    ]
    _expect_none(failures, "settings the docs leave out")
