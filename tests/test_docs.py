"""The user guide in docs/: the configuration reference is the schema's, every command is
documented, every relative link resolves, and French and English have the same chapters."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import msgspec
import msgspec.inspect as mi
import pytest
import typer
import yaml
from typer.testing import CliRunner

from vigie.cli import app
from vigie.config import Config

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")


def _schema_keys(info: Any, path: str, stack: frozenset[type]) -> list[str]:
    """Every key path of the schema, walked independently of the generator: lists add `[]`,
    mappings of your own names add `.<name>`."""
    found: list[str] = []
    for field in info.fields:
        key = f"{path}.{field.encode_name}" if path else field.encode_name
        found.append(key)
        for child, suffix in _nested(field.type):
            if child.cls not in stack:
                found += _schema_keys(child, key + suffix, stack | {child.cls})
    return found


def _nested(info: Any, suffix: str = "") -> list[tuple[Any, str]]:
    if isinstance(info, mi.StructType):
        return [(info, suffix)]
    if isinstance(info, mi.Metadata):
        return _nested(info.type, suffix)
    if isinstance(info, mi.ListType | mi.VarTupleType):
        return _nested(info.item_type, suffix + "[]")
    if isinstance(info, mi.DictType):
        return _nested(info.value_type, suffix + ".<name>")
    if isinstance(info, mi.UnionType):
        return [found for member in info.types for found in _nested(member, suffix)]
    return []


def _commands(group: Any, prefix: str = "vigie") -> list[tuple[str, bool]]:
    """Every command path of the tree and whether it is a group (walked by duck typing, as
    Typer ships its own click)."""
    found: list[tuple[str, bool]] = []
    for name, command in getattr(group, "commands", {}).items():
        path = f"{prefix} {name}"
        found.append((path, hasattr(command, "commands")))
        found += _commands(command, path)
    return found


COMMANDS = _commands(typer.main.get_command(app))


def test_the_committed_configuration_reference_is_the_generators_output() -> None:
    """docs/configuration.md equals `vigie config reference` (regenerate it after a schema
    change: `vigie config reference > docs/configuration.md`)."""
    result = CliRunner().invoke(app, ["config", "reference"])
    assert result.exit_code == 0, result.output
    committed = (DOCS / "configuration.md").read_text(encoding="utf-8")
    assert committed == result.output, (
        "docs/configuration.md is out of date: run `vigie config reference > docs/configuration.md`"
    )


def test_every_configuration_key_is_in_the_reference() -> None:
    """Each key path of the schema (walked here, not by the generator) has its row."""
    keys = _schema_keys(mi.type_info(Config), "", frozenset({Config}))
    assert len(keys) > 300
    assert {"sources[].tracker.chat", "review.send_to", "schedule.gateways.<name>.url"} <= set(keys)
    reference = (DOCS / "configuration.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `([^`]+)` \|", reference, flags=re.MULTILINE))
    missing = [key for key in keys if key not in rows]
    assert not missing, f"keys missing from docs/configuration.md: {missing}"


def test_every_key_of_the_reference_has_a_description() -> None:
    """No row of docs/configuration.md leaves its description empty: a new field needs its
    docstring (a string right after it in its Struct)."""
    reference = (DOCS / "configuration.md").read_text(encoding="utf-8")
    rows = [line for line in reference.splitlines() if line.startswith("| `")]
    assert len(rows) > 300
    bare = []
    for row in rows:
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]]
        assert len(cells) == 4, f"a row of four cells: {row}"
        if len(cells[3].split()) < 3:
            bare.append(cells[0])
    assert not bare, f"keys without a description in docs/configuration.md: {bare}"


def test_the_reference_carries_types_defaults_and_docstrings() -> None:
    """A key's row gives its type, its default and the docstring written beside its field."""
    reference = (DOCS / "configuration.md").read_text(encoding="utf-8")
    row = next(
        line for line in reference.splitlines() if line.startswith("| `ingest.retry_after_seconds`")
    )
    assert "integer (≥ 1, ≤ 3600)" in row
    assert "| `2` |" in row
    assert "The `Retry-After` of those 503 answers." in row
    required = next(
        line for line in reference.splitlines() if line.startswith("| `sources[].name`")
    )
    assert "**required**" in required
    tick = next(line for line in reference.splitlines() if line.startswith("| `alerting.tick`"))
    assert "How often rules are re-evaluated when no event arrives" in tick, (
        "a key without a docstring takes the example's comment"
    )


@pytest.mark.parametrize(("path", "group"), COMMANDS, ids=[path for path, _ in COMMANDS])
def test_every_command_is_on_the_commands_page(path: str, group: bool) -> None:
    """Each group has its heading and each command its line in docs/commands.md."""
    page = (DOCS / "commands.md").read_text(encoding="utf-8")
    if group:
        assert f"## `{path}`" in page, f"no section for {path}"
    else:
        assert re.search(rf"`{re.escape(path)}[` ]", page), f"{path} is not documented"


def test_every_command_on_the_commands_page_exists() -> None:
    """The page names no command the tree does not have (a renamed command is noticed)."""
    page = (DOCS / "commands.md").read_text(encoding="utf-8")
    paths = {path for path, _ in COMMANDS}
    named = set(re.findall(r"^\| `(vigie [a-z-]+(?: [a-z-]+)?)", page, flags=re.MULTILINE))
    named |= set(re.findall(r"^## `(vigie [a-z-]+)`", page, flags=re.MULTILINE))
    assert named, "no command found on the page"
    assert named <= paths, f"not commands: {sorted(named - paths)}"


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(DOCS)) for p in PAGES])
def test_every_relative_link_resolves(page: Path) -> None:
    """Every relative link (and image) of a page points at a file of the repository, and an
    anchor into a page of docs/ at one of its headings."""
    text = page.read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    for match in LINK.finditer(text):
        target = match.group(1) or match.group(2)
        if re.match(r"^[a-z]+:", target):
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (page.parent / unquote(file_part)).resolve() if file_part else page
        assert resolved.exists(), f"{page.relative_to(ROOT)}: {target} does not resolve"
        if anchor and resolved.suffix == ".md":
            anchors = _anchors(resolved.read_text(encoding="utf-8"))
            assert anchor in anchors, f"{page.relative_to(ROOT)}: no heading for #{anchor}"


def _anchors(text: str) -> set[str]:
    """The anchors a forge gives a page's headings (lower case, punctuation dropped, spaces
    to hyphens, repeated ones numbered)."""
    text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    seen: dict[str, int] = {}
    anchors = set()
    for heading in re.findall(r"^#{1,6} (.+)$", text, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def test_french_and_english_have_the_same_chapters() -> None:
    """docs/en and docs/fr hold the same pages, each with a title and linked from its index."""
    english = sorted(p.name for p in (DOCS / "en").glob("*.md"))
    french = sorted(p.name for p in (DOCS / "fr").glob("*.md"))
    assert english == french
    assert len(english) >= 10
    for language in ("en", "fr"):
        index = (DOCS / language / "README.md").read_text(encoding="utf-8")
        for name in english:
            page = (DOCS / language / name).read_text(encoding="utf-8")
            assert page.startswith("# "), f"docs/{language}/{name} has no title"
            if name != "README.md":
                assert f"({name})" in index, f"docs/{language}/README.md does not link {name}"


def test_the_guide_is_linked_from_the_readme_and_its_index() -> None:
    """README.md points at docs/README.md, which points at both languages and the reference."""
    assert "(docs/README.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    for target in ("en/README.md", "fr/README.md", "configuration.md", "commands.md", "api.md"):
        assert f"({target})" in index


@pytest.mark.parametrize("language", ["en", "fr"])
def test_the_guides_configuration_examples_pass_the_servers_checks(language: str) -> None:
    """The YAML examples of a language's chapters, put together as one vigie.yaml (rule
    fragments beside the shipped catalogue's metrics), pass `vigie config check`'s checks."""
    from vigie.catalogue import load_catalogue
    from vigie.config import parse_config

    merged: dict[str, Any] = {}
    fragments: list[Any] = []
    for page in sorted((DOCS / language).glob("*.md")):
        for block in re.findall(r"```yaml\n(.*?)```", page.read_text(encoding="utf-8"), re.S):
            data = yaml.safe_load(block)
            if block.startswith("services:"):
                continue  # a Docker Compose file, not vigie.yaml
            if block.startswith("  - "):
                fragments += data
            elif block.startswith("  "):
                merged.setdefault("schedule", {}).update(data)
            else:
                for key, value in data.items():
                    if isinstance(value, list):
                        merged.setdefault(key, []).extend(value)
                    elif isinstance(value, dict) and isinstance(merged.get(key), dict):
                        merged[key].update(value)
                    else:
                        merged[key] = value
    assert merged["playbooks"] and merged["rules"] and fragments
    merged["rules"] += fragments
    catalogue = {metric.name for metric in load_catalogue().metrics}
    named = {metric["name"] for metric in merged["metrics"]}
    merged["metrics"] += [
        msgspec.to_builtins(metric)
        for metric in load_catalogue().metrics
        if metric.name in catalogue - named
    ]
    parse_config(yaml.safe_dump(merged, allow_unicode=True), origin=f"docs/{language}")


def test_every_route_on_the_api_page_is_served(tmp_path: Path) -> None:
    """Each `METHOD /path` the HTTP API page names is in the app's OpenAPI document, the one
    `/docs` shows (`{entity}` and other placeholders stand for any segment)."""
    from tests.conftest import make_settings
    from vigie.system import build_system
    from vigie.web import create_app

    app = create_app(build_system(make_settings(f"sqlite:///{tmp_path / 'vigie.db'}")))
    served = list(app.openapi()["paths"])
    page = (DOCS / "api.md").read_text(encoding="utf-8")
    named = re.findall(r"`(?:GET|POST|PATCH|DELETE)[A-Z/]*\s+(/[^`?\s]*)", page)
    assert len(named) > 40
    for path in named:
        pattern = re.sub(r"\\\{[^}]*\\\}", r"[^/]+", re.escape(path.rstrip("/") or "/"))
        assert any(re.fullmatch(pattern + "/?", route) for route in served), f"{path} is not served"
