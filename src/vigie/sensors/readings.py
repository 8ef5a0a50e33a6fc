"""Sensor readings into events: a device proves who it is with its own key (no visitor id),
and its reading is placed where the device is (site, aisle, entrance, zone).

Four forms: an EPCIS 2.0 document of RFID reads, a compact list of reads for simple
readers, door counts (in/out per entrance) and people counts per zone shaped after
FIWARE's `CrowdFlowObserved`. A reading that fails is a `Rejection` naming the field; the
valid readings of the same message are kept.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from hashlib import blake2b
from typing import Any

import msgspec

from vigie.events import Event, Rejection
from vigie.sensors import epcis
from vigie.sensors.epcis import Reading
from vigie.sensors.places import Device, SensorsConfig

SOURCE = "sensors"
"""The `source` of every sensor event (a device is named in `properties.device`)."""
RFID_READ = "RFID Read"
DOOR_COUNT = "Door Count"
CROWD_COUNT = "Crowd Count"
MAX_COUNT = 10_000_000
MAX_PLACES = 10_000
"""Locations whose aisle `SensorGate` remembers (a reader names a few, again and again)."""
_decoder = msgspec.json.Decoder()
_UNPLACED = "\x00unplaced"


class DeviceError(ValueError):
    """A reading from a device Vigie does not know, or with the wrong key."""

    def __init__(self, reason: str, field: str = "device") -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


class Converted(msgspec.Struct, kw_only=True):
    """The events of one message, and its readings that were refused."""

    events: list[Event]
    rejections: list[Rejection]


class _SentDocument(epcis.TypedDocument, gc=False):
    """An EPCIS document as a reader sends it over MQTT: the device and its key ride along."""

    device: str | None = None
    key: str | None = None


_typed_decoder = msgspec.json.Decoder(_SentDocument)


class TypedEpcis(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """An EPCIS message decoded by the fast path: its reading and the device it names."""

    reading: Reading
    device: str | None
    key: str | None


def decode_epcis(body: bytes) -> TypedEpcis | None:
    """An EPCIS message whose ObjectEvents are all valid, decoded straight from its bytes; None
    for anything else (unreadable, another event type, an invalid event), which
    `decode_json` and `SensorGate.epcis` then refuse or read one event at a time, naming the
    field at fault. Both ways give the same events for the same message."""
    if b"\x00" in body:
        return None
    try:
        sent = _typed_decoder.decode(body)
    except msgspec.DecodeError:
        return None
    reading = epcis.read_typed(sent)
    if reading is None:
        return None
    return TypedEpcis(reading=reading, device=sent.device, key=sent.key)


def decode_json(body: bytes) -> Any:
    """The JSON value of a message body; `epcis.EpcisError` naming no field if unreadable."""
    if b"\x00" in body:
        raise epcis.EpcisError("the body contains a NUL byte", None)
    try:
        return _decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise epcis.EpcisError(f"not valid JSON: {exc}", None) from exc


class SensorGate:
    """Authenticates devices and turns their readings into events."""

    def __init__(self, config: SensorsConfig) -> None:
        self.config = config
        self._devices = {device.id: device for device in config.devices}
        self._aisles = {site.name: {a.name for a in site.aisles} for site in config.sites}
        self._placed: dict[tuple[str, str | None, str | None], str | None] = {}

    def authenticate(self, device_id: str | None, key: str | None, *, kind: str) -> Device:
        """The device `device_id` if `key` is its key and it is a `kind` device."""
        if not device_id:
            raise DeviceError("no device id: send it as the HTTP Basic user or as `device`")
        device = self._devices.get(device_id)
        if device is None:
            raise DeviceError(f"unknown device {device_id[:100]!r}")
        if not secrets.compare_digest(device.key.encode(), (key or "").encode()):
            raise DeviceError(f"wrong key for device {device_id!r}", "key")
        if device.kind != kind:
            raise DeviceError(f"device {device_id!r} is a {device.kind} device, not {kind}")
        return device

    def convert(self, kind: str, device: Device, data: Any, *, received_at: datetime) -> Converted:
        """The events of one message of `kind` (epcis, rfid, doors, crowd)."""
        match kind:
            case "epcis":
                return self.epcis(device, data, received_at=received_at)
            case "rfid":
                return self.rfid(device, data, received_at=received_at)
            case "doors":
                return self.doors(device, data, received_at=received_at)
            case _:
                return self.crowd(device, data, received_at=received_at)

    def epcis(self, device: Device, document: Any, *, received_at: datetime) -> Converted:
        """An EPCIS 2.0 document: one event per ObjectEvent and EPC read."""
        return self.reading(device, epcis.read_document(document), received_at=received_at)

    def reading(self, device: Device, reading: Reading, *, received_at: datetime) -> Converted:
        """The events of an EPCIS document already read (`read_document`, `decode_epcis`).

        The hot loop of the RFID path: the per-device and per-ObjectEvent parts (the id's
        prefix, the aisle, the properties) are made once, not once per EPC."""
        events: list[Event] = []
        append = events.append
        prefix = f"{device.id}\x1f".encode()
        shown = device.id[:100]
        site = device.site
        for item in reading.events:
            where = (device.id, item.biz_location, item.read_point)
            aisle = self._placed.get(where, _UNPLACED)
            if aisle is _UNPLACED:
                if len(self._placed) >= MAX_PLACES:
                    self._placed.clear()
                aisle = self._placed[where] = self._aisle(device, *where[1:])
            properties = {"device": device.id, "action": item.action}
            if item.biz_step is not None:
                properties["bizStep"] = item.biz_step
            if item.read_point is not None:
                properties["readPoint"] = item.read_point
            if item.biz_location is not None:
                properties["bizLocation"] = item.biz_location
            seed = item.event_id or f"{item.event_time.isoformat()}/{item.index}"
            for n, epc in enumerate(item.epcs):
                digest = blake2b(prefix + f"{seed}/{n}".encode(), digest_size=12).hexdigest()
                append(
                    Event(
                        message_id=f"{shown}:{digest}",
                        type="sensor",
                        source=SOURCE,
                        event=RFID_READ,
                        timestamp=item.event_time,
                        received_at=received_at,
                        site=site,
                        aisle=aisle,
                        epc=epc,
                        properties=properties.copy(),
                    )
                )
        rejections = [
            Rejection(reason=e.reason, field=e.field, payload=b"") for e in reading.errors
        ]
        return Converted(events=events, rejections=rejections)

    def rfid(self, device: Device, data: Any, *, received_at: datetime) -> Converted:
        """The compact form: `{"reads": [{"epc": …, "time": …, "aisle": …}]}`."""
        reads = data.get("reads") if isinstance(data, dict) else None
        if not isinstance(reads, list):
            raise epcis.EpcisError("a list of reads is required", "reads")
        events: list[Event] = []
        rejections: list[Rejection] = []
        for i, read in enumerate(reads[: epcis.MAX_EVENTS]):
            try:
                if not isinstance(read, dict):
                    raise epcis.EpcisError("a read is an object", f"reads[{i}]")
                epc = read.get("epc")
                if not isinstance(epc, str) or not epc or len(epc) > 200:
                    raise epcis.EpcisError(
                        "an EPC (tag id) of 1 to 200 characters", f"reads[{i}].epc"
                    )
                moment = self._when(read.get("time"), received_at, f"reads[{i}].time")
                aisle = read.get("aisle", device.aisle)
                site = self.config.site(device.site or "")
                if aisle is not None and (site is None or site.aisle(str(aisle)) is None):
                    raise epcis.EpcisError(
                        f"no aisle {aisle!r} in site {device.site!r}", f"reads[{i}].aisle"
                    )
                events.append(
                    self._rfid_event(
                        device,
                        epc=epc,
                        aisle=aisle,
                        moment=moment,
                        received_at=received_at,
                        seed=f"{moment.isoformat()}/{epc}",
                        extra={"action": "OBSERVE"},
                    )
                )
            except epcis.EpcisError as exc:
                rejections.append(Rejection(reason=exc.reason, field=exc.field, index=i))
        if len(reads) > epcis.MAX_EVENTS:
            rejections.append(
                Rejection(
                    reason=f"more than {epcis.MAX_EVENTS} reads in one message", field="reads"
                )
            )
        return Converted(events=events, rejections=rejections)

    def doors(self, device: Device, data: Any, *, received_at: datetime) -> Converted:
        """A door counter: `{"in": 3, "out": 1, "time": …}` for the device's entrance."""
        if not isinstance(data, dict):
            raise epcis.EpcisError("a door count is a JSON object", None)
        counts = {side: _count(data.get(side, 0), side) for side in ("in", "out")}
        moment = self._when(data.get("time"), received_at, "time")
        return Converted(
            events=[
                Event(
                    message_id=_message_id(device, f"{moment.isoformat()}/{data.get('seq', '')}"),
                    type="sensor",
                    source=SOURCE,
                    event=DOOR_COUNT,
                    timestamp=moment,
                    received_at=received_at,
                    site=device.site,
                    count=counts["in"] - counts["out"],
                    properties={
                        "device": device.id,
                        "entrance": device.entrance,
                        "in": counts["in"],
                        "out": counts["out"],
                    },
                )
            ],
            rejections=[],
        )

    def crowd(self, device: Device, data: Any, *, received_at: datetime) -> Converted:
        """A people count after FIWARE `CrowdFlowObserved`: `peopleCount`, `dateObserved`,
        optional `occupancy`, `confidence`, `source`. Density is count / the zone's capacity."""
        if not isinstance(data, dict):
            raise epcis.EpcisError("a crowd count is a JSON object", None)
        people = _count(data.get("peopleCount"), "peopleCount")
        moment = self._when(data.get("dateObserved"), received_at, "dateObserved")
        zone = self.config.zone(device.zone or "")
        assert zone is not None  # the configuration check guarantees it
        confidence = data.get("confidence", 1.0)
        if not isinstance(confidence, int | float) or not 0 <= confidence <= 1:
            raise epcis.EpcisError("a confidence between 0 and 1", "confidence")
        origin = data.get("source", device.id)
        return Converted(
            events=[
                Event(
                    message_id=_message_id(device, moment.isoformat()),
                    type="sensor",
                    source=SOURCE,
                    event=CROWD_COUNT,
                    timestamp=moment,
                    received_at=received_at,
                    zone=zone.name,
                    count=people,
                    properties={
                        "device": device.id,
                        "city": zone.city,
                        "peopleCount": people,
                        "capacity": zone.capacity,
                        "density": people / zone.capacity,
                        "confidence": float(confidence),
                        "source": str(origin)[:200],
                        **(
                            {"people_per_m2": people / zone.area_m2}
                            if zone.area_m2 is not None
                            else {}
                        ),
                    },
                )
            ],
            rejections=[],
        )

    def _rfid_event(
        self,
        device: Device,
        *,
        epc: str,
        aisle: str | None,
        moment: datetime,
        received_at: datetime,
        seed: str,
        extra: dict[str, Any],
    ) -> Event:
        properties = {"device": device.id, **{k: v for k, v in extra.items() if v is not None}}
        return Event(
            message_id=_message_id(device, seed),
            type="sensor",
            source=SOURCE,
            event=RFID_READ,
            timestamp=moment,
            received_at=received_at,
            site=device.site,
            aisle=aisle,
            epc=epc,
            properties=properties,
        )

    def _aisle(self, device: Device, *ids: str | None) -> str | None:
        """The aisle an EPCIS location names (its last segment), else the device's."""
        aisles = self._aisles.get(device.site or "", set())
        for location in ids:
            if location:
                tail = location.replace("/", ":").rsplit(":", 1)[-1]
                if tail in aisles:
                    return tail
        return device.aisle

    @staticmethod
    def _when(value: Any, received_at: datetime, field: str) -> datetime:
        if value is None:
            return received_at
        if not isinstance(value, str):
            raise epcis.EpcisError("an ISO 8601 date-time", field)
        return epcis.parse_time(value, field)


def _count(value: Any, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_COUNT:
        raise epcis.EpcisError(f"a whole number from 0 to {MAX_COUNT}", field)
    return value


def _message_id(device: Device, seed: str) -> str:
    """A stable id per device and reading, so that a reading sent twice is stored once."""
    digest = blake2b(f"{device.id}\x1f{seed}".encode(), digest_size=12).hexdigest()
    return f"{device.id[:100]}:{digest}"
