"""`vigie bench sensors`: RFID reads per second through EPCIS validation into the log, the
KPIs and the shop's state, and how long a read takes to reach the rules.

A system without HTTP (SQLite store, the group-commit writer, the processors) with one shop of
20 aisles, 20 readers, a pick-ups KPI per aisle and a threshold rule on it. Documents of
`--per-document` ObjectEvents (one EPC each) go through the sensors' intake, as a request to
`POST /v1/sensors/epcis` or an MQTT message does: JSON decoding, device key, schema
validation, conversion, append; `--concurrency` documents are in flight at once.

The baseline, in the same run and on a fresh store, appends the same reads already converted
(no JSON, no validation) through the same writer and processors: the ratio is what reading
EPCIS costs. Latency: from a document handed to the intake to its last read seen by a probe
processor placed right after the rules (p50, p99).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
from rich.console import Console

from vigie.config import Config, Source
from vigie.events import Event
from vigie.log.eventlog import AppendJob
from vigie.sensors.epcis import document
from vigie.sensors.readings import SensorGate
from vigie.settings import Settings
from vigie.system import System, build_system

AISLES = 20


def _config() -> Config:
    aisles = [{"name": f"aisle-{i}"} for i in range(AISLES)]
    devices = [
        {"id": f"reader-{i}", "key": f"key-{i}", "kind": "rfid", "site": "shop",
         "aisle": f"aisle-{i}"}
        for i in range(AISLES)
    ]  # fmt: skip
    return msgspec.convert(
        {
            "sources": [msgspec.to_builtins(Source(name="web", write_key="bench-key-0123456789"))],
            "metrics": [
                {
                    "name": "aisle_pickups",
                    "kind": "count",
                    "where": {"event": "RFID Read"},
                    "by": ["aisle"],
                    "window": "15m",
                    "slide": "1m",
                },
            ],
            "rules": [{"name": "aisle-busy", "metric": "aisle_pickups", "op": ">", "value": 1e9}],
            "sensors": {
                "sites": [{"name": "shop", "capacity": 500, "aisles": aisles}],
                "devices": devices,
            },
        },
        Config,
    )


def _documents(count: int, per_document: int) -> list[tuple[str, bytes]]:
    start = datetime.now(UTC) - timedelta(minutes=5)
    out: list[tuple[str, bytes]] = []
    for d in range(count):
        events = [
            {
                "type": "ObjectEvent",
                "eventID": f"urn:uuid:bench-{d}-{n}",
                "eventTime": (start + timedelta(milliseconds=d * per_document + n)).isoformat(),
                "eventTimeZoneOffset": "+01:00",
                "action": "OBSERVE",
                "bizStep": "observing",
                "epcList": [f"urn:epc:id:sgtin:0614141.107346.{d * per_document + n}"],
                "readPoint": {"id": f"urn:epc:id:sgln:0614141.07346.{d % AISLES}"},
            }
            for n in range(per_document)
        ]
        body = json.dumps(document(events, created=start.isoformat())).encode()
        out.append((f"reader-{d % AISLES}", body))
    return out


class _Probe:
    """A processor after the rules: when each read reached them."""

    name = "bench-probe"

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}

    def process(self, events: Sequence[Event]) -> None:
        now = time.perf_counter()
        for event in events:
            self.seen.setdefault(event.message_id, now)


async def _run(
    system: System, probe: _Probe, jobs: list[Any], *, concurrency: int, validated: bool
) -> tuple[float, list[float], int]:
    await system.start()
    try:
        sent: dict[int, float] = {}
        queue = list(enumerate(jobs))
        expected = _expected(jobs, validated)
        started = time.perf_counter()

        async def worker() -> None:
            while queue:
                index, job = queue.pop(0)
                sent[index] = time.perf_counter()
                if validated:
                    device, body = job
                    outcome = await system.sensor_intake.receive(
                        "epcis", body, device_id=device, key=f"key-{device.split('-')[1]}",
                        endpoint="/v1/sensors/epcis",
                    )  # fmt: skip
                    if outcome.status != 200:
                        raise RuntimeError(f"the bench's document was refused: {outcome.body}")
                else:
                    now = system.clock.now()
                    await system.committer.append(
                        AppendJob(events=job, rejections=(), source="sensors",
                                  endpoint="bench", received_at=now)
                    )  # fmt: skip

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        deadline = time.perf_counter() + 600
        while len(probe.seen) < expected and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - started
        latencies = _latencies(system, probe, sent, jobs, validated)
        return elapsed, latencies, len(probe.seen)
    finally:
        await system.stop()


def _expected(jobs: list[Any], validated: bool) -> int:
    if validated:
        return sum(len(json.loads(body)["epcisBody"]["eventList"]) for _, body in jobs)
    return sum(len(job) for job in jobs)


def _latencies(
    system: System, probe: _Probe, sent: dict[int, float], jobs: list[Any], validated: bool
) -> list[float]:
    """Per document: from handing it over to its last read seen after the rules."""
    gate = system.sensor_intake.gate
    out: list[float] = []
    at = datetime.now(UTC)
    for index, job in enumerate(jobs):
        if validated:
            device_id, body = job
            device = gate.config.device(device_id)
            assert device is not None
            events = gate.epcis(device, json.loads(body), received_at=at).events
        else:
            events = job
        seen = [probe.seen[e.message_id] for e in events if e.message_id in probe.seen]
        if seen:
            out.append(max(seen) - sent[index])
    return out


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _system(folder: Path, name: str, probe: _Probe) -> System:
    settings = Settings(db_url=f"sqlite:///{folder}/{name}.db", config=_config())
    return build_system(settings, processors=[probe])


def run_sensors_bench(
    *, documents: int, per_document: int, concurrency: int, console: Console
) -> dict[str, Any]:
    """Feed `documents` EPCIS documents of `per_document` reads, then the same reads already
    converted; returns reads per second of both, their ratio and the latencies."""
    docs = _documents(documents, per_document)
    gate = SensorGate(_config().sensors)
    at = datetime.now(UTC)
    converted = []
    for device_id, body in docs:
        device = gate.config.device(device_id)
        assert device is not None
        converted.append(gate.epcis(device, json.loads(body), received_at=at).events)
    reads = documents * per_document
    console.print(
        f"sensors: {documents} EPCIS documents of {per_document} reads ({reads} reads), "
        f"{concurrency} in flight, {AISLES} aisles"
    )
    with tempfile.TemporaryDirectory() as folder:
        probe = _Probe()
        elapsed, latencies, seen = asyncio.run(
            _run(_system(Path(folder), "epcis", probe), probe, docs,
                 concurrency=concurrency, validated=True)
        )  # fmt: skip
        base_probe = _Probe()
        base_elapsed, base_latencies, base_seen = asyncio.run(
            _run(_system(Path(folder), "baseline", base_probe), base_probe, converted,
                 concurrency=concurrency, validated=False)
        )  # fmt: skip
    rate = seen / elapsed
    base_rate = base_seen / base_elapsed
    figures = {
        "reads_per_s": round(rate),
        "baseline_reads_per_s": round(base_rate),
        "ratio": round(rate / base_rate, 3),
        "reads": seen,
        "rules_latency_p50_ms": round(_percentile(latencies, 0.5) * 1000, 1),
        "rules_latency_p99_ms": round(_percentile(latencies, 0.99) * 1000, 1),
        "baseline_latency_p99_ms": round(_percentile(base_latencies, 0.99) * 1000, 1),
        "documents": documents,
        "per_document": per_document,
    }
    console.print(figures)
    return figures
