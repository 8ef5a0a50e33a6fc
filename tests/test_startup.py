"""Start-up cost: the server and the CLI do not load the statistics and machine-learning
libraries that only some commands need."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HEAVY = ("lightgbm", "sklearn", "statsmodels", "pandas", "scipy")


def _loaded_after(statement: str) -> list[str]:
    src = Path(__file__).resolve().parents[1] / "src"
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    probe = f"{statement}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.split()


def test_the_server_starts_without_the_heavy_libraries() -> None:
    """Building the system and its web app loads none of LightGBM, scikit-learn, statsmodels,
    pandas or SciPy: they cost seconds of CPU on every start and load when first used."""
    assert _loaded_after("import vigie.system, vigie.web.app") == []


def test_the_command_line_starts_without_the_heavy_libraries() -> None:
    """`vigie --help` and every command's module load none of them either."""
    assert _loaded_after("import vigie.cli") == []
