"""Sensor readings at the door, over HTTP (`POST /v1/sensors/{kind}`) or MQTT: the device
is authenticated, its reading converted, the events appended and the refusals kept."""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from fastapi import APIRouter, Request, Response

from vigie.events import Rejection
from vigie.events.segment import MAX_BATCH_BYTES, PayloadError
from vigie.ingest.ingestor import Ingestor, Outcome, decompress
from vigie.sensors.epcis import EpcisError
from vigie.sensors.readings import SOURCE, DeviceError, SensorGate, decode_epcis, decode_json

KINDS = {"epcis": "rfid", "rfid": "rfid", "doors": "door", "crowd": "crowd"}
"""Each input form and the kind of device allowed to send it."""
MAX_BODY = MAX_BATCH_BYTES
"""The largest reading kept with its reason when refused (the web layer refuses twice this
at the door, unread)."""
_encode = msgspec.json.encode


class SensorIntake:
    """One door for every sensor edge: authenticate, convert, append, keep refusals."""

    def __init__(self, *, ingestor: Ingestor, gate: SensorGate) -> None:
        self.ingestor = ingestor
        self.gate = gate

    async def receive(
        self,
        kind: str,
        body: bytes,
        *,
        device_id: str | None,
        key: str | None,
        endpoint: str,
    ) -> Outcome:
        """Handle one message of `kind`; `device_id`/`key` may also be in the JSON body."""
        started = time.perf_counter()
        received_at = self.ingestor.clock.now()
        try:
            if len(body) > MAX_BODY:
                raise EpcisError(f"body is over the {MAX_BODY}-byte limit", None)
            typed = decode_epcis(body) if kind == "epcis" else None
            if typed is not None:
                if device_id is None:
                    device_id, key = typed.device, typed.key
                device = self.gate.authenticate(device_id, key, kind=KINDS[kind])
                converted = self.gate.reading(device, typed.reading, received_at=received_at)
            else:
                data = decode_json(body)
                if isinstance(data, dict) and device_id is None:
                    device_id = _text(data.get("device"))
                    key = _text(data.get("key"))
                device = self.gate.authenticate(device_id, key, kind=KINDS[kind])
                converted = self.gate.convert(kind, device, data, received_at=received_at)
        except DeviceError as exc:
            await self._refuse(exc.reason, exc.field, body, endpoint)
            return Outcome(
                status=401,
                body={
                    "success": False,
                    "error": exc.reason,
                    "rejected": [{"reason": exc.reason, "field": exc.field}],
                },
            )
        except EpcisError as exc:
            await self._refuse(exc.reason, exc.field, body, endpoint)
            rejected: dict[str, Any] = {"reason": exc.reason}
            if exc.field:
                rejected["field"] = exc.field
            return Outcome(
                status=400,
                body={"success": False, "error": str(exc), "rejected": [rejected]},
            )
        rejections = [
            Rejection(reason=r.reason, field=r.field, index=r.index, payload=body[:100_000])
            for r in converted.rejections
        ]
        return await self.ingestor.append(
            converted.events,
            rejections,
            source=SOURCE,
            endpoint=endpoint,
            received_at=received_at,
            started=started,
            total=len(converted.events) + len(rejections),
        )

    async def _refuse(self, reason: str, field: str | None, body: bytes, endpoint: str) -> None:
        await self.ingestor.keep_rejection(
            Rejection(reason=reason, field=field, payload=body[:100_000]),
            source=SOURCE,
            endpoint=endpoint,
        )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _basic(authorization: str | None) -> tuple[str | None, str | None]:
    """(device id, key) from `Authorization: Basic base64(id:key)`."""
    if not authorization:
        return None, None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    user, _, password = decoded.partition(":")
    return user or None, password


_DESCRIPTION = (
    "A sensor reading. Authenticate the device with HTTP Basic (`device id:key`) or with "
    "`device` and `key` in the JSON body. `epcis`: a GS1 EPCIS 2.0 `EPCISDocument` of "
    '`ObjectEvent`s; `rfid`: `{"reads": [{"epc", "time", "aisle"}]}`; `doors`: '
    '`{"in", "out", "time"}`; `crowd`: FIWARE `CrowdFlowObserved` (`peopleCount`, '
    "`dateObserved`, `confidence`, `source`). A refused reading is answered with its field "
    "and reason (HTTP 400, or 401 for an unknown device or a wrong key) and kept."
)


def build_router(intake: SensorIntake) -> APIRouter:
    """`POST /v1/sensors/{epcis,rfid,doors,crowd}`."""
    router = APIRouter(tags=["sensors"])
    for kind in KINDS:
        router.add_api_route(
            f"/v1/sensors/{kind}",
            _endpoint(intake, kind),
            methods=["POST"],
            summary=f"Sensor reading ({kind})",
            description=_DESCRIPTION,
            response_class=Response,
            name=f"sensors_{kind}",
        )
    return router


def _endpoint(intake: SensorIntake, kind: str) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        device_id, key = _basic(request.headers.get("authorization"))
        try:
            body = decompress(await request.body(), request.headers.get("content-encoding"))
        except PayloadError as exc:
            body_out = {"success": False, "error": exc.reason}
            return Response(content=_encode(body_out), status_code=exc.status)
        outcome = await intake.receive(
            kind, body, device_id=device_id, key=key, endpoint=f"/v1/sensors/{kind}"
        )
        return Response(
            content=_encode(outcome.body), status_code=outcome.status, media_type="application/json"
        )

    endpoint.__name__ = f"sensors_{kind}"
    return endpoint
