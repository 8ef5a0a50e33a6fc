"""The `sensors:` section of `vigie.yaml`: shops with their entrances, aisles and displays,
city zones with their capacity and neighbours, and the devices allowed to report.

A device reports with its own key instead of a visitor id; a reading is placed by the
device (its site, aisle or zone), so a reader cannot claim to be somewhere else.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

import msgspec

from vigie.kpi.durations import parse_duration

Problem = tuple[list[str | int], str]
CLOCK_RANGE = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)")


class Aisle(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """An aisle of a shop and the categories it holds."""

    name: str
    """The aisle's name in its shop, as readers (`aisle:`) and displays refer to it."""
    categories: list[str] = []
    """The product categories it holds, shown with its pick-ups."""


class Display(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A promotional display and where it stands when the configuration is first loaded;
    moves are recorded (`SensorsService.move_display`) and win over this start place."""

    name: str
    """The display's unique name in its shop."""
    aisle: str
    """The aisle it stands in at first (an `aisles` entry of the same shop)."""
    title: str | None = None
    """A readable label for the display, for whoever reads the file (reports name it by `name`)."""


class Site(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A shop: its entrances (door counters), aisles, displays and how many may be inside."""

    name: str
    """The shop's unique name, as devices (`site:`) and people's `site` refer to it."""
    capacity: int
    """People allowed inside at once: the entry-limit signal compares occupancy with it."""
    entrances: list[str] = []
    """Names of its entrances, each counted by a door counter (`entrance:` of a device)."""
    aisles: list[Aisle] = []
    displays: list[Display] = []
    zone: str | None = None
    """The city zone (street) the shop is in, if any."""

    def aisle(self, name: str) -> Aisle | None:
        """The aisle called `name`, if any."""
        return next((a for a in self.aisles if a.name == name), None)


class Zone(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A city zone (a street, a square) counted by cameras or drones.

    Its loudspeakers and quiet hours are those of the `actions.zones` entry of the same
    name (what the `broadcast` action reads)."""

    name: str
    """The zone's unique name, as devices (`zone:`) and neighbours refer to it."""
    capacity: int
    """People the zone holds comfortably: density is count / capacity."""
    city: str = "city"
    """The city it belongs to, carried by its crowd-count events and the city API
    (`GET /api/sensors/city`)."""
    area_m2: Annotated[float, msgspec.Meta(gt=0)] | None = None
    """Its surface in square metres: its crowd counts then carry `people_per_m2` (a metric can
    watch it, e.g. `avg` of that property) and the city page shows people per m² beside the
    density against `capacity`, which congestion is still judged on."""
    neighbours: list[str] = []
    """Zones next to it: when it is congested, the quietest one is where people are sent."""
    congested_above: float = 0.9
    """Density at or above which the zone is congested."""
    clear_below: float = 0.7
    """Density below which a congested zone is clear again (hysteresis: no flapping)."""


class Device(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A reader, a door counter or a people counter, and the key it reports with."""

    id: str
    """The device's unique id, sent as the HTTP Basic user (or `device`) with each reading."""
    key: str
    """The device's secret, sent as the HTTP Basic password (or `key`); a long random value per
    device."""
    kind: Literal["rfid", "door", "crowd"]
    """What it is: an RFID reader (`rfid`), a door counter (`door`) or a people counter
    (`crowd`)."""
    site: str | None = None
    """For a reader or a door counter, the shop it is in."""
    aisle: str | None = None
    """For an RFID reader: the aisle it watches (an EPCIS readPoint may say otherwise)."""
    entrance: str | None = None
    """For a door counter, the entrance of `site` it counts."""
    zone: str | None = None
    """For a people counter, the city zone it counts."""
    silence: str | None = "10m"
    """No reading for this long raises the alert of the rule `sensor-silent-<id>`, added
    for each device (none: no such rule)."""


class SensorsConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Places and devices; MQTT topics are read from `mqtt_url` when set."""

    sites: list[Site] = []
    zones: list[Zone] = []
    devices: list[Device] = []
    """The RFID readers, door counters and people counters allowed to report, each with its own
    key."""
    mqtt_url: str | None = None
    """`mqtt://host:port` of the broker to subscribe to (`vigie/+/rfid`, `vigie/+/doors`,
    `vigie/+/crowd/+`); none: no MQTT input."""
    pickup_window: str = "15m"
    """The window pick-ups are counted in for the shop's analytics."""

    def site(self, name: str) -> Site | None:
        """The site called `name`, if any."""
        return next((s for s in self.sites if s.name == name), None)

    def zone(self, name: str) -> Zone | None:
        """The city zone called `name`, if any."""
        return next((z for z in self.zones if z.name == name), None)

    def device(self, device_id: str) -> Device | None:
        """The device called `device_id`, if any."""
        return next((d for d in self.devices if d.id == device_id), None)


def problems(config: SensorsConfig) -> list[Problem]:
    """Every name that points at nothing, as (key path under `sensors`, message)."""
    found: list[Problem] = []
    zones = {z.name for z in config.zones}
    for i, site in enumerate(config.sites):
        aisles = {a.name for a in site.aisles}
        if site.capacity <= 0:
            found.append((["sites", i, "capacity"], "a capacity is a positive number of people"))
        if site.zone is not None and site.zone not in zones:
            found.append((["sites", i, "zone"], f"no zone {site.zone!r} in sensors.zones"))
        for j, display in enumerate(site.displays):
            if display.aisle not in aisles:
                found.append(
                    (
                        ["sites", i, "displays", j, "aisle"],
                        f"site {site.name!r} has no aisle {display.aisle!r}",
                    )
                )
    for i, zone in enumerate(config.zones):
        if zone.capacity <= 0:
            found.append((["zones", i, "capacity"], "a capacity is a positive number of people"))
        if not 0 < zone.clear_below <= zone.congested_above:
            found.append(
                (["zones", i, "clear_below"], "clear_below must be > 0 and <= congested_above")
            )
        for j, neighbour in enumerate(zone.neighbours):
            if neighbour not in zones or neighbour == zone.name:
                found.append(
                    (["zones", i, "neighbours", j], f"no other zone {neighbour!r} in sensors.zones")
                )
    ids: set[str] = set()
    for i, device in enumerate(config.devices):
        if device.id in ids:
            found.append((["devices", i, "id"], f"device {device.id!r} is defined twice"))
        ids.add(device.id)
        try:
            parse_duration(device.silence or "0s")
        except ValueError as exc:
            found.append((["devices", i, "silence"], str(exc)))
        if device.kind == "crowd":
            if device.zone not in zones:
                found.append(
                    (
                        ["devices", i, "zone"],
                        f"a crowd counter needs a zone of sensors.zones, not {device.zone!r}",
                    )
                )
            continue
        place = config.site(device.site or "")
        if place is None:
            found.append(
                (
                    ["devices", i, "site"],
                    f"a {device.kind} device needs a site of sensors.sites, not {device.site!r}",
                )
            )
            continue
        if device.aisle is not None and place.aisle(device.aisle) is None:
            found.append(
                (["devices", i, "aisle"], f"site {place.name!r} has no aisle {device.aisle!r}")
            )
        if device.kind == "door" and device.entrance not in place.entrances:
            found.append(
                (
                    ["devices", i, "entrance"],
                    f"site {place.name!r} has no entrance {device.entrance!r}",
                )
            )
    return found


def quiet_at(quiet_hours: list[str], minute_of_day: int) -> bool:
    """Whether `minute_of_day` (0..1439, local) falls in one of the `HH:MM-HH:MM` ranges;
    a range may span midnight (`22:00-08:00`)."""
    for text in quiet_hours:
        match = CLOCK_RANGE.fullmatch(text)
        if match is None:
            continue
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        start, end = h1 * 60 + m1, h2 * 60 + m2
        inside = (
            start <= minute_of_day < end
            if start <= end
            else (minute_of_day >= start or minute_of_day < end)
        )
        if inside:
            return True
    return False


def quiet_until(quiet_hours: list[str], timezone: str, now: datetime) -> datetime | None:
    """None when `now` is outside the quiet hours (local to `timezone`); otherwise the first
    minute after them, when a held message may go out. Stepping minute by minute in UTC
    keeps daylight-saving days right; hours quiet all day give the same time tomorrow,
    when the message is checked again."""
    zone = ZoneInfo(timezone)

    def quiet(moment: datetime) -> bool:
        local = moment.astimezone(zone)
        return quiet_at(quiet_hours, local.hour * 60 + local.minute)

    if not quiet(now):
        return None
    moment = now.replace(second=0, microsecond=0)
    for _ in range(2 * 24 * 60):
        moment += timedelta(minutes=1)
        if not quiet(moment):
            return moment
    return now + timedelta(days=1)
