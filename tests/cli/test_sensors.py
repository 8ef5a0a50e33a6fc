"""`vigie sensors count-video`: people counted in a camera's footage land in the zone."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa
import yaml
from typer.testing import CliRunner

from tests.conftest import WRITE_KEY
from tests.sensors.conftest import SENSORS
from tests.sensors.footage import street, write_video
from vigie.cli import app
from vigie.config import load_config
from vigie.settings import Settings
from vigie.store.schema import events as events_table
from vigie.system import build_system


def _config_file(tmp_path: Path) -> Path:
    sensors: dict[str, Any] = copy.deepcopy(SENSORS)
    sensors["mqtt_url"] = "mqtt://127.0.0.1:1"  # never reached: the command only appends
    path = tmp_path / "vigie.yaml"
    data = {"sources": [{"name": "web", "write_key": WRITE_KEY}], "sensors": sensors}
    path.write_text(yaml.safe_dump(data))
    return path


def _city(db_url: str, config: Path) -> dict[str, Any]:
    """The zones as a server started on the same store shows them, once it has read the log."""
    loaded = load_config(config)
    quiet = msgspec.structs.replace(loaded.sensors, mqtt_url=None)
    settings = Settings(db_url=db_url, config=msgspec.structs.replace(loaded, sensors=quiet))
    system = build_system(settings)

    async def read() -> dict[str, Any]:
        await system.start()
        try:
            system.runner.run_once()
            return system.sensors.city()
        finally:
            await system.stop()

    return {z["zone"]: z for z in asyncio.run(read())["zones"]}


def test_counts_from_footage_land_in_the_zones_density(db_url: str, tmp_path: Path) -> None:
    """Five walkers filmed for 12 s: one reading per 5 s, each about 5 people, and the zone
    shows the last count against its capacity of 100, its source the camera's file."""
    video = write_video(tmp_path / "rue-neuve.avi", street(5, 120, seed=5))
    config = _config_file(tmp_path)
    result = CliRunner().invoke(
        app,
        ["sensors", "count-video", str(video), "--zone", "rue-neuve", "--every", "5",
         "--start", "2026-12-05T10:00:00+01:00", "--json", "--db", db_url, "-c", str(config)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    readings = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["status"] for r in readings] == [200, 200, 200]
    assert all(abs(r["people"] - 5) <= 1 for r in readings), readings
    zone = _city(db_url, config)["rue-neuve"]
    assert abs(zone["count"] - 5) <= 1
    assert zone["density"] == pytest.approx(zone["count"] / 100)
    assert zone["observed_at"].startswith("2026-12-05T09:00:10")
    assert zone["source"] == "camera:rue-neuve.avi"


def test_unreadable_footage_and_unknown_zones_are_refused_storing_nothing(
    db_url: str, tmp_path: Path
) -> None:
    """A file that is no video (NUL bytes), a missing file and an unknown zone exit 2 with the
    reason, and nothing reaches the log."""
    config = _config_file(tmp_path)
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"\x00" * 4096 + b"RIFF\x00\x00")
    video = write_video(tmp_path / "ok.avi", street(1, 20, seed=1))
    cases = [
        ([str(junk), "--zone", "rue-neuve"], "junk.avi"),
        ([str(tmp_path / "missing.avi"), "--zone", "rue-neuve"], "no video file"),
        ([str(video), "--zone", "nowhere"], "no zone 'nowhere'"),
        ([str(video), "--zone", "rue-neuve", "--device", "cam-monnaie"], "cam-monnaie"),
    ]
    for args, reason in cases:
        result = CliRunner().invoke(
            app, ["sensors", "count-video", *args, "--db", db_url, "-c", str(config)]
        )
        assert result.exit_code == 2, result.output
        assert reason in " ".join(result.output.split()), result.output
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            assert (
                sa.inspect(conn).has_table("events") is False
                or conn.execute(sa.select(sa.func.count()).select_from(events_table)).scalar_one()
                == 0
            )
    finally:
        engine.dispose()
