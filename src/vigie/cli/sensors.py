"""`vigie sensors …`: sensor readings made on this machine (people counted in camera footage)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vigie.cli.options import ConfigOption, DbOption, console, err, load_settings

if TYPE_CHECKING:
    from vigie.ingest.cameras import Reading

sensors_app = typer.Typer(
    help="Sensor readings made here: people counted in a camera's footage. "
    "/ Relevés de capteurs faits ici : personnes comptées sur les images d'une caméra.\n\n"
    "Example: vigie sensors count-video street.mp4 --zone rue-neuve",
    no_args_is_help=True,
)


@sensors_app.command("count-video")
def count_video(
    path: Annotated[Path, typer.Argument(help="A video file from a fixed camera.")],
    zone: Annotated[str, typer.Option("--zone", "-z", help="The city zone it films.")],
    device: Annotated[
        str | None,
        typer.Option(help="The zone's people counter to send as (when it has several)."),
    ] = None,
    every: Annotated[float, typer.Option(help="Seconds of footage per people count.")] = 5.0,
    start: Annotated[
        str | None,
        typer.Option(help="When filming began, ISO 8601 with offset (default: now - length)."),
    ] = None,
    fps: Annotated[
        float | None, typer.Option(help="Frames per second when the file does not say.")
    ] = None,
    min_area: Annotated[
        int, typer.Option(help="Smallest moving blob counted as a person, in pixels.")
    ] = 150,
    person_area: Annotated[
        int | None,
        typer.Option(help="Pixels one person covers: larger blobs count as several."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per count.")] = False,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Count the people in a fixed camera's video of a city zone (OpenCV: a background model
    and the moving blobs of a person's size) and record one count per `--every` seconds as
    the zone's people counter would send it: the zone's density and congestion follow. Only
    the counts are stored, never the frames.

    Example: vigie sensors count-video rue-neuve.mp4 --zone rue-neuve --every 5
    """
    import msgspec

    from vigie.clock import SystemClock
    from vigie.ingest.cameras import FootageError, camera_for, open_footage, record_footage
    from vigie.sensors.people import CountingSettings
    from vigie.system import build_system

    settings = load_settings(db, config)
    sensors = settings.config.sensors
    try:
        camera = camera_for(sensors, zone, device)
        footage = open_footage(path, fps=fps)
        began = _start(start) if start else None
    except (FootageError, ValueError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    # Only the store and the log's writer run here: the server folds the counts from the log.
    quiet = msgspec.structs.replace(sensors, mqtt_url=None)
    settings = msgspec.structs.replace(
        settings, config=msgspec.structs.replace(settings.config, sensors=quiet)
    )
    system = build_system(settings, role="ingest")
    counting = CountingSettings(min_area=min_area, person_area=person_area)
    clock = SystemClock()

    async def run() -> list[Reading]:
        await system.start()
        try:
            first = began or clock.now() - timedelta(seconds=footage.seconds)
            return await record_footage(
                system.sensor_intake, footage, camera, start=first, every=every, settings=counting
            )
        finally:
            await system.stop()

    readings = asyncio.run(run())
    for reading in readings:
        if as_json:
            print(json.dumps(msgspec.to_builtins(reading), ensure_ascii=False))
        else:
            state = (
                "recorded / enregistré" if reading.status == 200 else f"refused ({reading.status})"
            )
            console.print(
                f"{reading.observed:%Y-%m-%d %H:%M:%S} {zone}: {reading.people} people "
                f"(confidence {reading.confidence:.0%}) {state}",
                markup=False,
            )
    if any(r.status != 200 for r in readings):
        raise typer.Exit(1)


def _start(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"--start {text!r} needs its offset (Z or ±hh:mm)")
    return moment
