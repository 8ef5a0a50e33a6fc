"""The MQTT edge: subscribes to the sensors' topics on a broker (Mosquitto) and hands each
message to the same intake as `POST /v1/sensors/…`.

Topics: `vigie/<site>/rfid` (an EPCIS document, or the compact `{"reads": […]}`),
`vigie/<site>/doors` (door counts), `vigie/<city>/crowd/<zone>` (people counts). The JSON
payload names the device and its key (`"device"`, `"key"`); a refused message is kept in
the rejected-events table like an HTTP one.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Future
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from vigie.ingest.ingestor import Outcome
from vigie.ingest.sensors import SensorIntake

logger = logging.getLogger(__name__)
TOPICS = ("vigie/+/rfid", "vigie/+/doors", "vigie/+/crowd/+")


def kind_of(topic: str, payload: bytes) -> str | None:
    """The input form a message on `topic` is in (None: not a sensors topic)."""
    parts = topic.split("/")
    if len(parts) == 3 and parts[0] == "vigie" and parts[2] == "rfid":
        return "epcis" if b'"EPCISDocument"' in payload[:4096] else "rfid"
    if len(parts) == 3 and parts[0] == "vigie" and parts[2] == "doors":
        return "doors"
    if len(parts) == 4 and parts[0] == "vigie" and parts[2] == "crowd":
        return "crowd"
    return None


class MqttSubscriber:
    """A lifecycle component: connects at start, subscribes, and disconnects at stop.

    paho's network loop runs in its own thread; each message is handed to the intake on the
    system's event loop, which appends it through the log's group-commit writer."""

    name = "mqtt"

    def __init__(self, url: str, intake: SensorIntake, *, client_id: str = "vigie") -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "tcp"):
            raise ValueError(f"sensors.mqtt_url: use mqtt://host:port, not {url!r}")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 1883
        self.intake = intake
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True
        )
        if parts.username:
            self.client.username_pw_set(parts.username, parts.password)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscribed = asyncio.Event()
        self.pending: set[Future[Outcome]] = set()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()
        try:
            await asyncio.wait_for(self._subscribed.wait(), timeout=30)
        except TimeoutError:
            self.client.loop_stop()
            raise RuntimeError(
                f"cannot reach the MQTT broker at {self.host}:{self.port} (sensors.mqtt_url)"
            ) from None

    async def stop(self) -> None:
        self.client.disconnect()
        await asyncio.to_thread(self.client.loop_stop)
        for future in list(self.pending):
            await asyncio.wrap_future(future)

    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: object, props: object
    ) -> None:
        client.subscribe([(topic, 1) for topic in TOPICS])
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._subscribed.set)

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        payload = bytes(message.payload)
        kind = kind_of(message.topic, payload)
        if kind is None or self._loop is None:
            return
        future = asyncio.run_coroutine_threadsafe(
            self.intake.receive(
                kind, payload, device_id=None, key=None, endpoint=f"mqtt:{message.topic}"
            ),
            self._loop,
        )
        self.pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[Outcome]) -> None:
        self.pending.discard(future)
        if future.exception() is not None:
            logger.error("an MQTT message could not be stored", exc_info=future.exception())
