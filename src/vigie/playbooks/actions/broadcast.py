"""The `broadcast` action: a spoken message for a zone's loudspeakers, rendered to a WAV
file with espeak-ng (when installed) and/or posted to the zone's public-address endpoint."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Any, ClassVar, Literal

import msgspec

from vigie.playbooks.actions.base import ActionContext, ActionError, OutsideHours
from vigie.playbooks.actions.port import Broadcast as BroadcastRecord
from vigie.playbooks.actions.quiet import outside_quiet_hours


class BroadcastParams(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """What to say in which zone; the language defaults to the zone's. In the zone's quiet
    hours the message is dropped (the default) or held until they end."""

    zone: str
    text: str
    language: Literal["fr", "en"] | None = None
    outside_quiet_hours: OutsideHours = "drop"


def render_wav(espeak: str, text: str, language: str, path: Path) -> bool:
    """Speak `text` into the WAV file `path`; False when espeak-ng is not installed."""
    if not Path(espeak).exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(
            [espeak, "-v", language, "-w", str(path), "--", text],
            check=True,
            capture_output=True,
            timeout=60,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise ActionError(f"espeak-ng could not render the message: {exc}") from exc
    return True


class Broadcast:
    """`broadcast`: render once per step, then post to the zone's loudspeakers if any."""

    name: ClassVar[str] = "broadcast"
    params_type: ClassVar[type[msgspec.Struct]] = BroadcastParams

    def run(self, params: BroadcastParams, context: ActionContext) -> dict[str, Any]:
        zone = context.settings.zone(params.zone)
        if zone is None:
            known = ", ".join(z.name for z in context.settings.zones) or "none configured"
            raise ActionError(f"no zone {params.zone!r} (actions.zones: {known})", retryable=False)
        quiet = outside_quiet_hours(
            place=zone.name,
            quiet_hours=zone.quiet_hours,
            timezone=zone.timezone,
            choice=params.outside_quiet_hours,
            now=context.clock.now(),
        )
        if quiet is not None:  # loudspeakers stay silent at night: nothing said
            return {"zone": zone.name, **quiet}
        language = params.language or zone.language
        path = Path(context.settings.broadcast_dir) / f"{context.key.replace(':', '-')}.wav"
        rendered = path.exists() or render_wav(context.settings.espeak, params.text, language, path)
        context.port.once(
            BroadcastRecord(
                zone=zone.name,
                language=language,
                text=params.text,
                wav_path=str(path) if rendered else None,
            )
        )
        result: dict[str, Any] = {"zone": zone.name, "wav": str(path) if rendered else None}
        if zone.public_address:
            data: dict[str, Any] = {"zone": zone.name, "language": language, "text": params.text}
            if rendered:
                data["audio_wav_base64"] = base64.b64encode(path.read_bytes()).decode()
            result["public_address"] = context.port.send_event(
                endpoint=zone.public_address,
                type="be.vigie.broadcast",
                subject=zone.name,
                data=data,
            )
        if not rendered and not zone.public_address:
            raise ActionError(
                "espeak-ng is not installed and the zone has no public_address", retryable=False
            )
        return result
