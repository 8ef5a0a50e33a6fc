"""The sensors service: reads the sensor events of the log into live shop and city state,
keeps the displays' placements, and answers the dashboard and the API.

It is a `vigie.log.Processor` (idempotent per offset: an event at or below the last offset
seen is skipped, as delivery is at least once) and rebuilds its state from the start of
the log when the system starts.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import msgspec
import sqlalchemy as sa

from vigie.clock import Clock
from vigie.events import Event
from vigie.kpi.durations import parse_duration
from vigie.sensors import crowd, shop
from vigie.sensors.places import SensorsConfig, Site
from vigie.sensors.readings import CROWD_COUNT, DOOR_COUNT, RFID_READ, SOURCE
from vigie.sensors.rings import RingBook, RingError, is_changed_notice
from vigie.sensors.tables import display_placements
from vigie.types import JSON, Micros, from_us, to_us

RECENT_WINDOWS = 8
"""Windows of pick-ups the relocation advice compares aisles over (2 hours of 15 minutes)."""
KEPT_WINDOWS = 7 * 24 * 4


class SensorsError(ValueError):
    """A request names a site, display or aisle that does not exist; the message says which."""


class Placement(msgspec.Struct, kw_only=True, frozen=True):
    """Where a display stood from `starts_us` until `ends_us` (None: it still does)."""

    display: str
    site: str
    aisle: str
    starts_us: Micros
    ends_us: Micros | None
    moved_by: str
    reason: str


class _ZoneState(msgspec.Struct, kw_only=True):
    count: int = 0
    density: float = 0.0
    at_us: Micros = 0
    source: str = ""
    """Who counted (a camera's file, a drone, a counter's id), as the reading says."""
    congestion: crowd.Congestion


class SensorsService:
    """Live shop and city state from sensor events, and the displays' moves."""

    name = "sensors"

    def __init__(
        self,
        *,
        config: SensorsConfig,
        engine: sa.Engine,
        clock: Clock,
        rings: RingBook | None = None,
    ) -> None:
        self.config = config
        self.engine = engine
        self.clock = clock
        self.rings = rings
        """The loyalty rings linked to customers with their consent (None: no linking)."""
        self.window_us = parse_duration(config.pickup_window)
        self._lock = threading.Lock()
        self._last_offset = 0
        self._pickups: dict[tuple[str, str], dict[int, int]] = defaultdict(dict)
        self._doors: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        self._zones = {
            z.name: _ZoneState(
                congestion=crowd.Congestion(above=z.congested_above, below=z.clear_below)
            )
            for z in config.zones
        }
        self._seen: dict[str, Micros] = {}
        self._customers: dict[str, dict[tuple[str, str], int]] = defaultdict(dict)

    @property
    def last_offset(self) -> int:
        """The last log offset folded in (to wait for the state to catch up)."""
        return self._last_offset

    def reset(self) -> None:
        """Forget the live state (the log is replayed from its start after this)."""
        with self._lock:
            self._last_offset = 0
            self._pickups.clear()
            self._doors.clear()
            for state in self._zones.values():
                state.count, state.density, state.at_us, state.source = 0, 0.0, 0, ""
                state.congestion.congested = False
            self._seen.clear()
            self._customers.clear()

    def process(self, events: Sequence[Event]) -> None:
        """Fold the sensor events of a batch into the live state."""
        with self._lock:
            for event in events:
                offset = event.offset or 0
                if offset and offset <= self._last_offset:
                    continue
                self._last_offset = max(self._last_offset, offset)
                if is_changed_notice(event):
                    self._links_changed()
                    continue
                if event.source != SOURCE or event.type != "sensor":
                    continue
                self._fold(event)

    def _fold(self, event: Event) -> None:
        at = to_us(event.timestamp)
        device = event.properties.get("device")
        if isinstance(device, str):
            self._seen[device] = max(self._seen.get(device, 0), to_us(event.received_at))
        if event.event == RFID_READ and event.site and event.aisle:
            buckets = self._pickups[(event.site, event.aisle)]
            bucket = at // self.window_us
            buckets[bucket] = buckets.get(bucket, 0) + 1
            if len(buckets) > KEPT_WINDOWS:
                del buckets[min(buckets)]
            owner = self.rings.owner(event.epc, at) if self.rings and event.epc else None
            if owner is not None:
                mine = self._customers[owner]
                mine[(event.site, event.aisle)] = mine.get((event.site, event.aisle), 0) + 1
        elif event.event == DOOR_COUNT and event.site:
            doors = self._doors[event.site]
            doors[0] += int(event.properties.get("in", 0))
            doors[1] += int(event.properties.get("out", 0))
        elif event.event == CROWD_COUNT and event.zone in self._zones:
            state = self._zones[event.zone]
            if at >= state.at_us:
                state.count = event.count or 0
                state.density = float(event.properties.get("density", 0.0))
                state.at_us = at
                state.source = str(event.properties.get("source", ""))
                state.congestion.update(state.density)

    # Customers' rings ---------------------------------------------------------------------

    def customer(self, contact_id: str) -> JSON:
        """A customer's pick-ups per aisle, read by the rings linked to them while linked;
        `RingError` (409) once their consent to profiling is withdrawn, as without a link."""
        if self.rings is None:
            raise RingError("rings cannot be linked here / pas de bagues", status=404, field="ring")
        links = self.rings.rings_of(contact_id)
        with self._lock:
            counts = dict(self._customers.get(contact_id, {}))
        pickups = [
            {"site": site, "aisle": aisle, "pickups": n}
            for (site, aisle), n in sorted(counts.items(), key=lambda item: -item[1])
        ]
        return {
            "contact_id": contact_id,
            "rings": [msgspec.to_builtins(link) for link in links],
            "pickups": pickups,
            "total": sum(counts.values()),
        }

    def _links_changed(self) -> None:
        """Another process changed the rings' links: read them again, and forget the
        pick-ups of the customers who no longer have any (an erasure deleted them)."""
        if self.rings is None:
            return
        linked = self.rings.reload()
        for contact_id in [c for c in self._customers if c not in linked]:
            del self._customers[contact_id]

    def forget_customer(self, contact_id: str) -> None:
        """Forget whose rings were `contact_id`'s and the pick-ups read by them (an erasure),
        here and, through the log, in every other process: the shop's own counts keep them,
        as nobody's."""
        if self.rings is not None:
            self.rings.forget(contact_id)
        with self._lock:
            self._customers.pop(contact_id, None)
        if self.rings is not None:
            self.rings.changed()

    # Displays -----------------------------------------------------------------------------

    def placements(self, display: str) -> list[Placement]:
        """Where `display` stood, oldest first; its configured aisle if it never moved."""
        site, configured = self._display(display)
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(display_placements)
                .where(display_placements.c.display == display)
                .order_by(display_placements.c.id)
            ).all()
        if not rows:
            return [
                Placement(
                    display=display,
                    site=site.name,
                    aisle=configured,
                    starts_us=0,
                    ends_us=None,
                    moved_by="vigie.yaml",
                    reason="",
                )
            ]
        return [
            Placement(
                display=r.display,
                site=r.site,
                aisle=r.aisle,
                starts_us=r.starts_us,
                ends_us=r.ends_us,
                moved_by=r.moved_by,
                reason=r.reason,
            )
            for r in rows
        ]

    def move_display(self, display: str, *, to: str, by: str, reason: str = "") -> Placement:
        """End the display's current placement and start one in aisle `to`, in one
        transaction (the audit trail is the list of placements)."""
        site, configured = self._display(display)
        if site.aisle(to) is None:
            raise SensorsError(f"site {site.name!r} has no aisle {to!r}")
        now = to_us(self.clock.now())
        with self.engine.begin() as conn:
            table = display_placements
            current = conn.execute(
                sa.select(table.c.id, table.c.aisle)
                .where(table.c.display == display, table.c.ends_us.is_(None))
                .with_for_update()
            ).first()
            if current is None:
                conn.execute(
                    table.insert().values(
                        display=display,
                        site=site.name,
                        aisle=configured,
                        starts_us=0,
                        ends_us=now,
                        moved_by="vigie.yaml",
                        reason="",
                    )
                )
            else:
                conn.execute(table.update().where(table.c.id == current.id).values(ends_us=now))
            conn.execute(
                table.insert().values(
                    display=display,
                    site=site.name,
                    aisle=to,
                    starts_us=now,
                    ends_us=None,
                    moved_by=by[:200],
                    reason=reason[:2000],
                )
            )
        return Placement(
            display=display,
            site=site.name,
            aisle=to,
            starts_us=now,
            ends_us=None,
            moved_by=by[:200],
            reason=reason[:2000],
        )

    def current_aisle(self, display: str) -> str:
        """The aisle `display` stands in now."""
        return self.placements(display)[-1].aisle

    def recommended_aisle(self, display: str) -> str | None:
        """The aisle the relocation advice names for `display` now, or None."""
        site, _ = self._display(display)
        report = self.shop(site.name)
        found = next(d for d in report["displays"] if d["display"] == display)
        to: str | None = found["recommendation"]["to"]
        return to

    def _display(self, name: str) -> tuple[Site, str]:
        for site in self.config.sites:
            for display in site.displays:
                if display.name == name:
                    return site, display.aisle
        raise SensorsError(f"no display {name!r} in sensors.sites")

    # Reading the state ---------------------------------------------------------------------

    def shop(self, site_name: str) -> JSON:
        """A shop now: pick-ups per aisle (this window and recent ones), occupancy and the
        entry signal, and each display with its uplift and relocation advice."""
        site = self.config.site(site_name)
        if site is None:
            raise SensorsError(f"no site {site_name!r} in sensors.sites")
        now_bucket = to_us(self.clock.now()) // self.window_us
        recent = range(now_bucket - RECENT_WINDOWS + 1, now_bucket + 1)
        with self._lock:
            series = {a.name: dict(self._pickups.get((site.name, a.name), {})) for a in site.aisles}
            ins, outs = self._doors.get(site.name, [0, 0])
        totals = {a.name: sum(series[a.name].get(b, 0) for b in recent) for a in site.aisles}
        ranks = shop.peer_rank(totals)
        aisles = [
            {
                "aisle": aisle.name,
                "categories": aisle.categories,
                "now": series[aisle.name].get(now_bucket, 0),
                "recent": totals[aisle.name],
                "peer_rank": ranks[aisle.name],
            }
            for aisle in site.aisles
        ]
        inside = shop.occupancy(ins, outs)
        displays = [self._display_report(d.name, series, recent) for d in site.displays]
        return {
            "site": site.name,
            "window": self.config.pickup_window,
            "aisles": aisles,
            "occupancy": {
                "inside": inside,
                "capacity": site.capacity,
                "ratio": inside / site.capacity,
                "signal": shop.entry_signal(inside, site.capacity),
            },
            "displays": displays,
        }

    def _display_report(self, name: str, series: dict[str, dict[int, int]], recent: range) -> JSON:
        history = self.placements(name)
        current = history[-1]
        buckets = sorted({b for counts in series.values() for b in counts})
        here = series.get(current.aisle, {})
        displayed = [self._stood(history, current.aisle, b) for b in buckets]
        others = [
            sum(c.get(b, 0) for a, c in series.items() if a != current.aisle) for b in buckets
        ]
        effect = shop.uplift([here.get(b, 0) for b in buckets], others, displayed)
        advice = shop.recommend(
            name, current.aisle, {a: sum(c.get(b, 0) for b in recent) for a, c in series.items()}
        )
        return {
            "display": name,
            "aisle": current.aisle,
            "since": from_us(current.starts_us).isoformat() if current.starts_us else None,
            "uplift": msgspec.to_builtins(effect) if effect else None,
            "recommendation": _advice(advice),
            "placements": [msgspec.to_builtins(p) for p in history],
        }

    def _stood(self, history: list[Placement], aisle: str, bucket: int) -> bool:
        """Whether the display stood in `aisle` for most of window `bucket`."""
        middle = bucket * self.window_us + self.window_us // 2
        return any(
            p.aisle == aisle and p.starts_us <= middle and (p.ends_us is None or middle < p.ends_us)
            for p in history
        )

    def city(self) -> JSON:
        """Every zone now: people, density against capacity (and people per m² when its area
        is known), congestion, and the quietest neighbour to send people to."""
        with self._lock:
            densities = {n: s.density for n, s in self._zones.items() if s.at_us}
            zones = [
                {
                    "zone": zone.name,
                    "city": zone.city,
                    "capacity": zone.capacity,
                    "count": self._zones[zone.name].count,
                    "density": self._zones[zone.name].density,
                    "area_m2": zone.area_m2,
                    "people_per_m2": (
                        self._zones[zone.name].count / zone.area_m2
                        if zone.area_m2 is not None and self._zones[zone.name].at_us
                        else None
                    ),
                    "congested": self._zones[zone.name].congestion.congested,
                    "source": self._zones[zone.name].source or None,
                    "observed_at": (
                        from_us(self._zones[zone.name].at_us).isoformat()
                        if self._zones[zone.name].at_us
                        else None
                    ),
                    "neighbours": zone.neighbours,
                    "redirect_to": (
                        crowd.quietest(zone.neighbours, densities)
                        if self._zones[zone.name].congestion.congested
                        else None
                    ),
                }
                for zone in self.config.zones
            ]
        zones.sort(key=lambda z: -self._zones[str(z["zone"])].density)
        return {"zones": zones}

    def quietest_neighbour(self, zone: str) -> str | None:
        """The neighbour of `zone` with the lowest live density (a playbook's target)."""
        found = self.config.zone(zone)
        if found is None:
            raise SensorsError(f"no zone {zone!r} in sensors.zones")
        with self._lock:
            densities = {n: s.density for n, s in self._zones.items() if s.at_us}
        return crowd.quietest(found.neighbours, densities)

    def devices(self) -> list[JSON]:
        """Every configured device, when it was last heard of and whether it is silent."""
        now = to_us(self.clock.now())
        with self._lock:
            seen = dict(self._seen)
        out: list[JSON] = []
        for device in self.config.devices:
            last = seen.get(device.id)
            silent = device.silence is not None and (
                last is None or now - last > parse_duration(device.silence)
            )
            entry: dict[str, Any] = {
                "id": device.id,
                "kind": device.kind,
                "site": device.site,
                "zone": device.zone,
                "last_seen": from_us(last).isoformat() if last else None,
                "silent": silent,
            }
            out.append(entry)
        return out


def _advice(advice: shop.Recommendation) -> JSON:
    out = msgspec.to_builtins(advice)
    for candidate in out["ranking"]:
        for key in ("expected_uplift", "low", "high"):
            if candidate[key] == float("inf"):
                candidate[key] = None
    return dict(out)
