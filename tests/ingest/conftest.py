"""Fixtures for the clients' own libraries: the npm packages the browser tests load, Chromium.

The packages are installed from the npm registry (`tests/ingest/npm/package-lock.json` pins
them) into the git-ignored `test-output/npm`, once per lock: no `node_modules` in the
repository and no CDN while the tests run. npm is treated as a service: missing, it skips
the browser tests, or fails them under `VIGIE_REQUIRE_SERVICES=1`.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_service

CHROMIUM = "/usr/bin/chromium"
NPM_SPEC = Path(__file__).parent / "npm"
NPM_ROOT = Path(__file__).parents[2] / "test-output" / "npm"


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """`node_modules` holding the pinned analytics-next and posthog-js, installed if needed."""
    lock = (NPM_SPEC / "package-lock.json").read_bytes()
    stamp = NPM_ROOT / "node_modules" / ".vigie-lock"
    digest = hashlib.sha256(lock).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return NPM_ROOT / "node_modules"
    npm = shutil.which("npm")
    if npm is None:
        require_service("npm", "npm is not on PATH (apt-get install npm)")
    NPM_ROOT.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(NPM_SPEC / name, NPM_ROOT / name)
    try:
        done = subprocess.run(
            [str(npm), "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=NPM_ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    except subprocess.TimeoutExpired:
        require_service("npm registry", "npm ci took over 10 minutes")
    if done.returncode != 0:
        require_service("npm registry", f"npm ci failed: {done.stderr.strip()[-500:]}")
    stamp.write_text(digest)
    return NPM_ROOT / "node_modules"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's chromium, headless, driven by Playwright, not flagged as automated
    (`navigator.webdriver`), as posthog-js drops the events of a browser that is."""
    if not Path(CHROMIUM).exists():
        require_service("chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-blink-features=AutomationControlled",
            ],
        )
        try:
            yield instance
        finally:
            instance.close()
