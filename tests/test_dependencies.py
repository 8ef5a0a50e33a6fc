"""pyproject.toml declares what `src/vigie` imports, and nothing it does not use."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Import names that differ from the distribution's name.
DISTRIBUTION = {
    "argon2": "argon2-cffi",
    "cv2": "opencv-python-headless",
    "distributed": "dask",
    "nats": "nats-py",
    "paho": "paho-mqtt",
    "sklearn": "scikit-learn",
    "vaderSentiment_fr": "vadersentiment-fr",
    "yaml": "pyyaml",
}

# Declared and used, but never by an `import` statement.
USED_WITHOUT_IMPORT = {
    "psycopg": "the SQLAlchemy driver of postgresql:// URLs (store/engine.py)",
    "python-multipart": "parses the login and language forms of web/ui.py for FastAPI",
    "plotly": "its browser bundle is served from the package's data (web/ui.py)",
}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match, requirement
    return _normalise(match.group())


def _declared() -> tuple[set[str], set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = {_requirement_name(r) for r in project["dependencies"]}
    extras = {
        _requirement_name(r)
        for requirements in project.get("optional-dependencies", {}).values()
        for r in requirements
    }
    return runtime, extras


def _imported() -> dict[str, str]:
    """Each third-party distribution imported under src/vigie, with one file importing it."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / "src" / "vigie").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.partition(".")[0]
                if top in sys.stdlib_module_names or top == "vigie":
                    continue
                distribution = _normalise(DISTRIBUTION.get(top, top))
                found.setdefault(distribution, str(path.relative_to(ROOT)))
    return found


def test_every_imported_package_is_declared() -> None:
    """A third-party package imported under src is a runtime dependency or an optional extra."""
    runtime, extras = _declared()
    missing = {d: f for d, f in _imported().items() if d not in runtime | extras}
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_every_runtime_dependency_is_used() -> None:
    """A runtime dependency is imported under src, or its other use is written down here."""
    runtime, _ = _declared()
    used = set(_imported()) | {_normalise(name) for name in USED_WITHOUT_IMPORT}
    assert not runtime - used, f"declared but never used: {sorted(runtime - used)}"
