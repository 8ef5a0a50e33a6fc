"""The event log on NATS JetStream, for when one machine is not enough.

One stream per installation holds every event, on subject `vigie.events.<source>`, or
`vigie.events.<partition>.<source>` when the URL cuts the log into partitions
(`?partitions=N&key=FIELD`: the partition is computed from the event's key by the ingest
node, `vigie.kpi.partitions`, so that a worker's durable consumer can follow only the
partitions it holds). Each
message carries `Nats-Msg-Id: <source>:<messageId>`, so JetStream itself drops a message it
has already stored within the stream's duplicate window (24 h by default). The offset of an
event is its stream sequence. Consumer checkpoints live in a JetStream key-value bucket.
Rejected input stays in the SQL store, as with the embedded log.

An event of a *topic* (a chat conversation: `topic_of`) goes on `<…>.<source>.topic.<topic>`,
still one of the stream's subjects and of its partition's, so that the nodes serving the
chat follow the topics' events alone, at once and in stream order (`follow_topics`), and
read one topic's history (`read_topic`) without scanning the log. What is not worth storing
(typing, who is connected) goes between nodes as core NATS messages (`broadcast`, `listen`).

nats-py is asyncio-only and the log contract is synchronous (it is called from the writer
thread and the processor thread), so the client runs on its own event loop in a thread.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import json
import re
import threading
from collections.abc import Callable, Collection, Coroutine, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit, urlunsplit

import msgspec
import nats
import nats.errors
from nats.js import api
from nats.js.errors import APIError, KeyNotFoundError, NoStreamResponseError, NotFoundError
from nats.protocol.parser import AWAITING_CONTROL_LINE

from vigie.events import NOTICE_TYPE, Event
from vigie.events.event import ShapeT, decode_event, encode_event
from vigie.log.eventlog import (
    AppendJob,
    AppendResult,
    AppendsOne,
    LogUnavailable,
    RejectedRecord,
)
from vigie.log.sql import SqlEventLog

T = TypeVar("T")

DEFAULT_STREAM = "VIGIE"
DEFAULT_SUBJECT_PREFIX = "vigie.events"
DEFAULT_DUPLICATE_WINDOW = 24 * 3600.0
RECENT_SCAN_LIMIT = 20_000
_READ_CHUNK = 500
_TIMEOUT = 30.0
PULL_TIMEOUT = 15.0
"""How long a read waits for JetStream's answer, which comes at once when it is there."""
PUBLISH_TIMEOUT = 10.0
"""How long a batch waits for JetStream's acknowledgements before it is answered 503."""
ACK_WAIT_SECONDS = 3600.0
"""How long JetStream waits for an acknowledgement before it delivers again: long, as a
taking-over process re-creates the consumer instead of waiting for redelivery."""
DECODED_KEPT = 10_000
"""At most this many events decoded in each shape are kept for the other processors."""
TOPIC_TOKEN = "topic"
"""The subject token after the source that marks an event of a topic."""
_UNSAFE_TOKEN = re.compile(r"[^A-Za-z0-9_-]")
_UNSAFE_KEY = re.compile(r"[^A-Za-z0-9_=-]")


class _Kind(msgspec.Struct):
    """An event read for its type alone (counting the notices)."""

    type: str
    offset: int | None = None


class NatsOptions(msgspec.Struct, kw_only=True, frozen=True):
    """Where the log lives, read from `nats://host:port?stream=NAME&prefix=SUBJECT&window=SECONDS`."""

    servers: str
    stream: str = DEFAULT_STREAM
    subject_prefix: str = DEFAULT_SUBJECT_PREFIX
    duplicate_window: float = DEFAULT_DUPLICATE_WINDOW
    partitions: int = 1
    """How many partitions the stream's subjects are cut into (1: none)."""
    partition_key: str = "contact"
    """The field whose value chooses an event's partition."""

    @property
    def checkpoint_bucket(self) -> str:
        return f"{self.stream}_checkpoints"


def parse_nats_url(url: str) -> NatsOptions:
    """Split a `--log` URL into the server address and the stream's settings
    (`?stream=NAME&prefix=SUBJECT&window=SECONDS&partitions=N&key=FIELD`)."""
    parts = urlsplit(url)
    if parts.scheme not in ("nats", "tls"):
        raise ValueError(f"log URL {url!r} is not supported: use nats://HOST:PORT")
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    unknown = set(query) - {"stream", "prefix", "window", "partitions", "key"}
    if unknown:
        raise ValueError(
            f"log URL {url!r}: unknown parameter(s) {', '.join(sorted(unknown))}; "
            "known: stream, prefix, window, partitions, key"
        )
    partitions = query.get("partitions", "1")
    if not partitions.isdigit() or int(partitions) < 1:
        raise ValueError(f"log URL {url!r}: partitions={partitions!r} is not a whole number >= 1")
    servers = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
    return NatsOptions(
        servers=servers,
        stream=query.get("stream", DEFAULT_STREAM),
        subject_prefix=query.get("prefix", DEFAULT_SUBJECT_PREFIX),
        duplicate_window=float(query.get("window", DEFAULT_DUPLICATE_WINDOW)),
        partitions=int(partitions),
        partition_key=query.get("key", "contact"),
    )


def subject_token(source: str) -> str:
    """A source name made safe as one subject token (no dots, wildcards or spaces)."""
    return _UNSAFE_TOKEN.sub("_", source) or "_"


class _Consumer:
    """A JetStream consumer as this process follows it (a processor's durable one, or one
    made for a read): the messages fetched and not acknowledged yet (in stream order, with
    their stream sequences), and the sequence it delivers next.

    Messages come through a plain subscription on an inbox of its own, with a callback that
    only files them: nats-py's `fetch` made a task, a timer and a UUID for every message,
    which cost more than decoding the event (each worker receives every event once per
    processor).
    """

    def __init__(self, name: str, inbox: str, start: int) -> None:
        self.name = name
        self.inbox = inbox
        self.sub: Any = None
        self.held: list[Any] = []
        self.seqs: list[int] = []
        """The stream sequence of each message of `held`."""
        self.next_seq = start
        self.arrived: list[Any] = []
        """Messages delivered and not taken by `_pull` yet."""
        self.wanted = 0
        self.request = ""
        """The reply subject of the pull request under way, whose status message ends it."""
        self.done = asyncio.Event()
        self.status = ""
        """The status that ended the last pull request ("": none, its batch came whole)."""

    @property
    def first(self) -> int:
        """The lowest sequence this process can still hand out or acknowledge."""
        return self.seqs[0] if self.seqs else self.next_seq

    async def delivered(self, msg: Any) -> None:
        """File a message of the consumer, or end the pull request its status answers."""
        headers = msg.headers
        if headers and "Status" in headers:
            # No more messages (404), the request expired (408), or an error (503: JetStream
            # is not there yet): the request is over; one answering an earlier one is ignored.
            if msg.subject == self.request:
                self.status = str(headers["Status"])
                self.done.set()
            return
        self.arrived.append(msg)
        if len(self.arrived) >= self.wanted:
            self.done.set()

    def keep(self, messages: list[Any]) -> None:
        """Hold the messages of a pull past what is held already."""
        for msg in messages:
            seq = _seq(msg)
            if seq >= self.next_seq:  # not a redelivery of one held already
                self.held.append(msg)
                self.seqs.append(seq)
                self.next_seq = seq + 1

    def held_from(self, offset: int) -> int:
        """The index in `held` of the first message at or past `offset`."""
        return bisect.bisect_left(self.seqs, offset)


def _seq(msg: Any) -> int:
    """A JetStream message's stream sequence, read from its reply subject (`$JS.ACK.<stream>.
    <consumer>.<delivered>.<stream seq>.…`, or with a domain and an account hash before the
    stream in the newer form): cheaper than nats-py's `metadata`, which also builds a
    datetime and three dataclasses."""
    tokens = msg.reply.split(".")
    return int(tokens[5] if len(tokens) == _V1_ACK_TOKENS else tokens[7])


_V1_ACK_TOKENS = 9
_NO_NEWLINES = str.maketrans({"\r": " ", "\n": " "})
"""A header value cannot hold a line break (nats-py's own publish replaces them alike)."""


class _PubAck(msgspec.Struct):
    """JetStream's answer to a published message: where it was stored, or why not."""

    seq: int = 0
    duplicate: bool = False
    error: dict[str, Any] | None = None


_ACK_DECODER = msgspec.json.Decoder(_PubAck)


class _Publishing:
    """A batch published and waiting for an acknowledgement of each of its messages."""

    def __init__(self, size: int) -> None:
        self.acks: list[_PubAck | None] = [None] * size
        self.left = size
        self.error: Exception | None = None
        self.done = asyncio.Event()
        if not size:
            self.done.set()

    def file(self, index: int, ack: _PubAck) -> None:
        if self.acks[index] is None:
            self.acks[index] = ack
            self.left -= 1
            if not self.left:
                self.done.set()

    def fail(self, error: Exception) -> None:
        self.error = error
        self.done.set()


_NO_MORE = ("404", "408")
"""The statuses that end a pull request with what the consumer had: none left, or expired."""


class NatsEventLog(AppendsOne):
    """`EventLog` on a JetStream stream; `rejects` keeps rejected input in the SQL store."""

    def __init__(
        self,
        options: NatsOptions,
        *,
        rejects: SqlEventLog,
        partition_of: Callable[[Event], int] | None = None,
        topic_of: Callable[[Event], str | None] | None = None,
    ) -> None:
        self.options = options
        self.rejects = rejects
        self.partition_of = partition_of
        """An event's partition (`vigie.kpi.partitions`), needed to append to a stream cut
        into partitions."""
        self.topic_of = topic_of
        """An event's topic (a chat conversation), None for most: its events are published
        on subjects of their own (`topic_subject`)."""
        self._followers: list[Any] = []
        self._filters: dict[str, str] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="vigie-nats", daemon=True
        )
        self._thread.start()
        self._nc: Any = None
        self._js: Any = None
        self._kv: Any = None
        self._durables: dict[str, _Consumer] = {}
        self._requests = itertools.count()
        self._decoded_by_shape: dict[type[Any], dict[int, Any]] = {}
        self._acks_inbox = ""
        self._acks_sub: Any = None
        self._batches = itertools.count()
        self._publishing: dict[int, _Publishing] = {}
        try:
            self._call(self._open())
        except BaseException:
            self._stop_loop()
            raise

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        rejects: SqlEventLog,
        partition_of: Callable[[Event], int] | None = None,
        topic_of: Callable[[Event], str | None] | None = None,
    ) -> NatsEventLog:
        """Connect to the server named by a `nats://…` URL and make sure the stream exists."""
        return cls(
            parse_nats_url(url), rejects=rejects, partition_of=partition_of, topic_of=topic_of
        )

    @property
    def description(self) -> str:
        """The stream's description, which records how its subjects are partitioned."""
        options = self.options
        if options.partitions == 1:
            return "Vigie event log"
        return f"Vigie event log; partitions={options.partitions} key={options.partition_key}"

    def partition_subject(self, partition: int | None) -> str:
        """The subjects of one partition (None: every event)."""
        prefix = self.options.subject_prefix
        return f"{prefix}.>" if partition is None else f"{prefix}.{partition}.>"

    def topic_subject(self, topic: str) -> str:
        """The subjects of one topic's events (`*`: of every topic), whatever their source
        and partition: `<prefix>[.<partition>].<source>.topic.<topic>`."""
        partition = "" if self.options.partitions == 1 else "*."
        token = topic if topic == "*" else subject_token(topic)
        return f"{self.options.subject_prefix}.{partition}*.{TOPIC_TOKEN}.{token}"

    def notes_subject(self, channel: str) -> str:
        """Where the nodes of this log exchange `channel`'s notes: outside the stream's
        subjects (they are not stored), within this installation's prefix."""
        return f"{self.options.subject_prefix}-notes.{subject_token(channel)}"

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float = _TIMEOUT) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _open(self) -> None:
        options = self.options
        self._nc = await nats.connect(
            options.servers, connect_timeout=5, max_reconnect_attempts=-1, name="vigie"
        )
        self._js = self._nc.jetstream(timeout=_TIMEOUT)
        self._acks_inbox = self._nc.new_inbox()
        config = api.StreamConfig(
            name=options.stream,
            subjects=[f"{options.subject_prefix}.>"],
            storage=api.StorageType.FILE,
            retention=api.RetentionPolicy.LIMITS,
            duplicate_window=options.duplicate_window,
            description=self.description,
        )
        try:
            info = await self._js.stream_info(options.stream)
        except NotFoundError:
            await self._js.add_stream(config)
        else:
            found = info.config.description or "Vigie event log"
            if found.startswith("Vigie event log") and found != self.description:
                # Events already stored on other subjects would escape the partitions'
                # consumers: refuse rather than lose them.
                raise ValueError(
                    f"stream {options.stream!r} is {found!r}, not {self.description!r}: "
                    "keep its partitions and key in the log URL, or use a new stream "
                    "(?stream=NAME)"
                )
            await self._js.update_stream(config)
        try:
            self._kv = await self._js.key_value(options.checkpoint_bucket)
        except Exception:
            self._kv = await self._js.create_key_value(
                bucket=options.checkpoint_bucket, history=1, storage=api.StorageType.FILE
            )

    def close(self) -> None:
        """Flush and close the connection, then stop the client's thread."""
        self._durables.clear()
        if self._nc is not None:
            with contextlib.suppress(Exception):
                self._call(self._unfollow(), timeout=10)
            with contextlib.suppress(Exception):
                self._call(self._nc.drain(), timeout=10)
            self._nc = None
        self._stop_loop()

    async def _unfollow(self) -> None:
        """End the subscriptions of `follow_topics` and `listen` (and their timers)."""
        followers, self._followers = self._followers, []
        for sub in followers:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    def _stop_loop(self) -> None:
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        if not self._loop.is_running():
            self._loop.close()

    def delete_stream(self) -> None:
        """Remove the stream and its checkpoints (tests, `vigie db reset`-like tools)."""
        self._call(self._delete_stream())

    async def _delete_stream(self) -> None:
        await self._js.delete_stream(self.options.stream)
        await self._js.delete_key_value(self.options.checkpoint_bucket)

    def delete_messages(self, offsets: Sequence[int]) -> int:
        """Delete the events at `offsets` from the stream (JetStream overwrites a deleted
        message's data in its files); returns how many were there. The stream keeps its other
        sequences: its readers and consumers step over the holes. Only for a data subject's
        erasure of what cannot be rewritten in place (`vigie.privacy.subjects`)."""
        return self._call(self._delete_messages(sorted(set(offsets))))

    async def _delete_messages(self, offsets: list[int]) -> int:
        deleted = 0
        for seq in offsets:
            with contextlib.suppress(NotFoundError):
                deleted += bool(await self._js.delete_msg(self.options.stream, seq))
        return deleted

    def append_many(self, jobs: Sequence[AppendJob]) -> list[AppendResult]:
        """Publish every event and wait for each acknowledgement (stored in the stream).

        Messages go out in order on one connection, so a batch's offsets increase in its
        order. A message the stream already holds (same source and message id, within the
        duplicate window) is acknowledged as a duplicate and not stored again.
        """
        events = [event for job in jobs for event in job.events]
        acks = self._publish_or_refuse(events) if events else []
        rejected_jobs = [job for job in jobs if job.rejections]
        if rejected_jobs:
            self.rejects.append_many(
                [
                    AppendJob(
                        events=(),
                        rejections=job.rejections,
                        source=job.source,
                        endpoint=job.endpoint,
                        received_at=job.received_at or datetime.now(UTC),
                    )
                    for job in rejected_jobs
                ]
            )
        results: list[AppendResult] = []
        position = 0
        for job in jobs:
            offsets: list[int] = []
            duplicates = 0
            for event in job.events:
                ack = acks[position]
                position += 1
                if ack.duplicate:
                    duplicates += 1
                else:
                    event.offset = ack.seq
                    offsets.append(ack.seq)
            results.append(
                AppendResult(offsets=offsets, duplicates=duplicates, rejected=len(job.rejections))
            )
        return results

    def _publish_or_refuse(self, events: Sequence[Event]) -> list[_PubAck]:
        """The acknowledgements of every event, or `LogUnavailable` when JetStream is away.

        A refused batch may still be stored once the connection is back (the client had
        buffered it); the client's retry is then dropped as a duplicate, never stored twice.
        """
        if self.options.partitions > 1 and self.partition_of is None:
            raise ValueError(
                f"stream {self.options.stream!r} is cut into {self.options.partitions} "
                "partitions: appending needs each event's partition (partition_of)"
            )
        nc = self._nc
        if nc is None or not nc.is_connected:
            raise LogUnavailable(f"the event log on {self.options.servers} is not reachable")
        try:
            return self._call(self._publish(events), timeout=PUBLISH_TIMEOUT + 1)
        except (TimeoutError, nats.errors.Error, OSError) as exc:
            raise LogUnavailable(
                f"the event log on {self.options.servers} did not acknowledge the batch: "
                f"{type(exc).__name__}{f' ({exc})' if str(exc) else ''}"
            ) from exc

    async def _publish(self, events: Sequence[Event]) -> list[_PubAck]:
        """Send the batch's messages in one write and wait for an acknowledgement of each.

        The messages are written as the NATS protocol's `HPUB` commands, each with a reply
        subject of this log's acknowledgement inbox that names the batch and the message:
        nats-py's `publish_async` made a future, a NUID, a semaphore wait and a JSON-to-
        dataclass acknowledgement for every message, which cost the ingest node more than
        the rest of its work together. The write goes through the client's own buffer and
        flusher (`_send_command`, `_flush_pending`, as its `publish` does; nats-py 2.x), so
        reconnection and ordering stay the client's.
        """
        if self._acks_sub is None:
            self._acks_sub = await self._nc.subscribe(f"{self._acks_inbox}.*.*", cb=self._acked)
            self._take_acks_first(self._acks_sub._id)
        options = self.options
        prefix = options.subject_prefix
        partition_of = self.partition_of
        topic_of = self.topic_of
        batch = next(self._batches)
        waiting = _Publishing(len(events))
        reply = f"{self._acks_inbox}.{batch}."
        stream_line = f"Nats-Expected-Stream: {options.stream}\r\n\r\n".encode()
        max_payload = self._nc.max_payload
        commands: list[bytes] = []
        tokens: dict[str, str] = {}  # each source's subject token, made once per batch
        for index, event in enumerate(events):
            where = prefix if partition_of is None else f"{prefix}.{partition_of(event)}"
            token = tokens.get(event.source)
            if token is None:
                token = tokens[event.source] = subject_token(event.source)
            payload = encode_event(event)
            msg_id = f"{event.source}:{event.message_id}".strip().translate(_NO_NEWLINES)
            header = b"".join((b"NATS/1.0\r\nNats-Msg-Id: ", msg_id.encode(), b"\r\n", stream_line))
            if len(header) + len(payload) > max_payload:
                # The server would close the connection on it; nats-py's publish refused it alike.
                raise nats.errors.MaxPayloadError
            subject = f"{where}.{token}"
            topic = topic_of(event) if topic_of is not None else None
            if topic is not None:
                subject = f"{subject}.{TOPIC_TOKEN}.{subject_token(topic)}"
            commands.append(
                f"HPUB {subject} {reply}{index} "
                f"{len(header)} {len(header) + len(payload)}\r\n".encode()
            )
            commands.extend((header, payload, b"\r\n"))
        self._publishing[batch] = waiting
        try:
            nc = self._nc
            await nc._send_command(b"".join(commands))
            if nc._flush_queue is not None and nc._flush_queue.empty():
                await nc._flush_pending()
            await asyncio.wait_for(waiting.done.wait(), PUBLISH_TIMEOUT)
        finally:
            del self._publishing[batch]
        if waiting.error is not None:
            raise waiting.error
        return waiting.acks  # type: ignore[return-value]

    def _take_acks_first(self, sid: int) -> None:
        """Have the client hand this log the acknowledgements (the messages of subscription
        `sid` without headers) as soon as its parser has read them, before it makes a message
        object, queues it and wakes a task to run the callback: that way cost more per event
        than publishing it. Anything else, an acknowledgement with a status header (no
        stream: 503) included, takes the client's own way (`_process_msg`, nats-py 2.x, which
        its parser awaits for every message).
        """
        nc = self._nc
        process = type(nc)._process_msg
        file = self._file_ack

        async def process_msg(
            msg_sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes | None
        ) -> None:
            if msg_sid == sid and not headers:
                file(subject, data)
                return
            await process(nc, msg_sid, subject, reply, data, headers)

        nc._process_msg = process_msg
        self._parse_acks_first(sid)

    def _parse_acks_first(self, sid: int) -> None:
        """Read a run of acknowledgements at the head of what the connection received in one
        pass over the client parser's buffer, then let its parser read the rest: its loop
        matched two patterns, filled a dict and awaited a coroutine for each message, which
        cost more than filing it. Only plain `MSG` lines on this log's acknowledgement inbox
        and subscription are taken, whole (payload and line end there); the parser's state
        and buffer stay its own (`Parser.buf`, `.state`, nats-py 2.x)."""
        parser = self._nc._ps
        parse = type(parser).parse
        acks = re.compile(
            b"MSG " + re.escape(self._acks_inbox.encode())
            + rb"\.(\d+)\.(\d+) " + str(sid).encode() + rb" +(\d+)\r\n"
        )  # fmt: skip
        file = self._file_batch_ack

        async def parse_acks_first(data: bytes = b"") -> None:
            if parser.state != AWAITING_CONTROL_LINE:
                # A message's payload is under way: the parser ends it with the bytes it
                # lacks, then the rest is read here.
                missing = max(0, parser.needed + len(b"\r\n") - len(parser.buf))
                if len(data) <= missing:
                    await parse(parser, data)
                    return
                await parse(parser, data[:missing])
                data = data[missing:]
            buf = parser.buf
            buf.extend(data)
            if parser.state == AWAITING_CONTROL_LINE:
                taken = 0
                while (found := acks.match(buf, taken)) is not None:
                    start = found.end()
                    end = start + int(found[3])
                    if len(buf) < end + 2:
                        break  # the payload is still on its way
                    file(int(found[1]), int(found[2]), bytes(buf[start:end]))
                    taken = end + 2
                if taken:
                    del buf[:taken]
            await parse(parser)

        parser.parse = parse_acks_first

    def _file_ack(self, subject: bytes, data: bytes) -> None:
        """File JetStream's answer `data`, to the message `subject` names, under its batch."""
        _, batch, index = subject.rsplit(b".", 2)
        self._file_batch_ack(int(batch), int(index), data)

    def _file_batch_ack(self, batch: int, index: int, data: bytes) -> None:
        """File JetStream's answer `data` to message `index` of `batch`."""
        waiting = self._publishing.get(batch)
        if waiting is not None:  # else the batch gave up waiting (timeout)
            self._filed(waiting, index, data)

    async def _acked(self, msg: Any) -> None:
        """File JetStream's answer to one published message under its batch (one the client
        made a message of: with a status header)."""
        _, batch, index = msg.subject.rsplit(".", 2)
        waiting = self._publishing.get(int(batch))
        if waiting is None:
            return  # the batch gave up waiting (timeout)
        headers = msg.headers
        if headers and headers.get("Status") == "503":
            waiting.fail(NoStreamResponseError())
            return
        self._filed(waiting, int(index), msg.data)

    @staticmethod
    def _filed(waiting: _Publishing, index: int, data: bytes) -> None:
        """File one acknowledgement, or fail the batch on an unreadable one or an error."""
        try:
            ack = _ACK_DECODER.decode(data)
        except msgspec.DecodeError as exc:
            waiting.fail(nats.errors.Error(f"unreadable acknowledgement: {exc}"))
            return
        if ack.error is not None:
            try:
                APIError.from_error(ack.error)  # raises the error's own class (nats-py 2.x)
            except APIError as exc:
                waiting.fail(exc)
            return
        waiting.file(index, ack)

    def _state(self) -> Any:
        info = self._call(self._js.stream_info(self.options.stream))
        return info.state

    def last_offset(self) -> int:
        """The stream sequence of the newest event, 0 for an empty log."""
        return int(self._state().last_seq or 0)

    def count(self) -> int:
        """How many events the stream holds."""
        return int(self._state().messages or 0)

    def extent(self) -> tuple[int, int]:
        """How many events the stream holds and the sequence of the newest, from one look at
        its state."""
        state = self._state()
        return int(state.messages or 0), int(state.last_seq or 0)

    def count_notices(self, sources: Collection[str], *, through: int | None = None) -> int:
        """How many of Vigie's notices appended as one of `sources` the stream holds (up to
        the sequence `through` when given): the events on those sources' subjects alone are
        read (a few: one per erasure or change of the rings' links), whatever their age, and
        those of the notice type counted."""
        partition = "" if self.options.partitions == 1 else "*."
        found = 0
        for source in sorted(sources):
            subject = f"{self.options.subject_prefix}.{partition}{subject_token(source)}"
            kinds = self._call(self._fetch(1, None, _Kind, subject))
            found += sum(
                1
                for kind in kinds
                if kind.type == NOTICE_TYPE and (through is None or (kind.offset or 0) <= through)
            )
        return found

    def read(self, from_offset: int, limit: int = 1000) -> list[Event]:
        """Events with offset >= `from_offset`, in stream order, at most `limit`."""
        return self.read_as(Event, from_offset, limit)

    def read_as(self, shape: type[ShapeT], from_offset: int, limit: int = 1000) -> list[ShapeT]:
        """As `read`, each event decoded as `shape` (a Struct with some of `Event`'s fields)."""
        state = self._state()
        first = max(from_offset, int(state.first_seq or 1), 1)
        last = int(state.last_seq or 0)
        wanted = min(limit, last - first + 1)
        if wanted <= 0:
            return []
        return self._call(self._fetch(first, wanted, shape))

    async def _fetch(
        self,
        start: int,
        wanted: int | None,
        shape: type[ShapeT],
        subject: str | None = None,
        *,
        at_most: int | None = None,
    ) -> list[ShapeT]:
        """Up to `wanted` events from `start` on (None: all there are now, or `at_most` of
        them), of `subject` (None: every event), through a consumer made for this read."""
        config = api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=start,
            ack_policy=api.AckPolicy.NONE,
            inactive_threshold=60.0,
            filter_subject=subject or self.partition_subject(None),
        )
        info = await self._js.add_consumer(self.options.stream, config)
        if wanted is None:
            wanted = int(info.num_pending or 0)
            if at_most is not None:
                wanted = min(wanted, max(at_most, 0))
        reader = _Consumer(info.name, self._nc.new_inbox(), start)
        reader.sub = await self._nc.subscribe(f"{reader.inbox}.*", cb=reader.delivered)
        try:
            while len(reader.held) < wanted:
                before = len(reader.held)
                reader.keep(await self._pull(reader, wanted - before))
                if len(reader.held) == before:
                    break  # the stream holds no more (messages deleted on the way)
        finally:
            await reader.sub.unsubscribe()
            with contextlib.suppress(NotFoundError):
                await self._js.delete_consumer(self.options.stream, info.name)
        events: list[ShapeT] = []
        for msg, seq in zip(reader.held, reader.seqs, strict=True):
            event = decode_event(msg.data, shape)
            event.offset = seq
            events.append(event)
        return events

    def recent(
        self,
        *,
        type: str | None = None,
        event: str | None = None,
        anonymous_id: str | None = None,
        user_id: str | None = None,
        source: str | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> list[Event]:
        """Newest events first, filtered by scanning back at most `RECENT_SCAN_LIMIT` events.

        JetStream has no secondary index; a projection in the SQL store is the place for
        deep searches by visitor or user.
        """
        wanted = {
            "type": type,
            "event": event,
            "anonymous_id": anonymous_id,
            "user_id": user_id,
            "source": source,
        }
        filters = {key: value for key, value in wanted.items() if value is not None}
        state = self._state()
        first = int(state.first_seq or 1)
        end = int(state.last_seq or 0)
        if before is not None:
            end = min(end, before - 1)
        found: list[Event] = []
        scanned = 0
        while end >= first and len(found) < limit and scanned < RECENT_SCAN_LIMIT:
            start = max(first, end - _READ_CHUNK + 1)
            chunk = self._call(self._fetch(start, end - start + 1, Event))
            scanned += len(chunk)
            for item in reversed(chunk):
                if all(getattr(item, key) == value for key, value in filters.items()):
                    found.append(item)
                    if len(found) == limit:
                        break
            end = start - 1
        return found

    def read_topic(self, topic: str, after: int = 0, limit: int | None = None) -> list[Event]:
        """The events of `topic` with an offset past `after`, in stream order: every one,
        or the first `limit` (a page; the next starts after the last one's offset). `topic`
        is always a name, never the wildcard: a topic named `*` (a visitor's conversation
        id) reads its own subject, not every topic's."""
        subject = self.topic_subject(subject_token(topic))
        return self._call(self._fetch(max(1, after + 1), None, Event, subject, at_most=limit))

    def follow_topics(self, on_event: Callable[[Event], None], *, replay_seconds: float) -> None:
        """Call `on_event` with each event of every topic stored in the last `replay_seconds`
        (by the server's clock, which stamps what it stores), then with
        each one as it is stored, in stream order, none skipped nor twice (an ordered
        consumer: JetStream's own, re-created by the client past the last one delivered
        when a message goes missing or the server restarts). `on_event` runs on the log's
        client thread: it must hand the event over, not block."""
        since = datetime.now(UTC) - timedelta(seconds=replay_seconds)
        self._call(self._follow_topics(on_event, since))

    async def _follow_topics(self, on_event: Callable[[Event], None], since: datetime) -> None:
        async def delivered(msg: Any) -> None:
            event = decode_event(msg.data, Event)
            event.offset = int(msg.metadata.sequence.stream)
            on_event(event)

        self._followers.append(
            await self._js.subscribe(
                self.topic_subject("*"),
                cb=delivered,
                stream=self.options.stream,
                ordered_consumer=True,
                deliver_policy=api.DeliverPolicy.BY_START_TIME,
                config=api.ConsumerConfig(opt_start_time=since),
            )
        )

    def broadcast(self, channel: str, payload: bytes) -> None:
        """Send `payload` to every node listening on `channel` (this one too), at most once
        and not stored: for what is worth nothing a moment later (typing, presence)."""
        nc = self._nc
        if nc is None or not nc.is_connected or self._loop.is_closed():
            return
        asyncio.run_coroutine_threadsafe(
            nc.publish(self.notes_subject(channel), payload), self._loop
        )

    def listen(self, channel: str, on_note: Callable[[bytes], None]) -> None:
        """Call `on_note` with each payload broadcast on `channel` (on the client's thread)."""

        async def delivered(msg: Any) -> None:
            on_note(msg.data)

        self._followers.append(
            self._call(self._nc.subscribe(self.notes_subject(channel), cb=delivered))
        )

    def consumer_name(self, consumer: str) -> str:
        """The durable JetStream consumer of processor `consumer` (a safe token)."""
        return f"vigie_{subject_token(consumer)}"

    def consume(
        self,
        consumer: str,
        shape: type[ShapeT],
        from_offset: int,
        limit: int = 1000,
        *,
        partition: int | None = None,
    ) -> list[ShapeT]:
        """Up to `limit` events from `from_offset` on, through `consumer`'s durable consumer
        (filtered to the subjects of `partition` when given: the offsets then have gaps).

        Events fetched and not acknowledged yet are handed out again when asked for (a
        processor that failed tries the same batch again); asking for an offset outside them
        re-creates the consumer there.
        """
        self._filters[consumer] = self.partition_subject(partition)
        return self._call(self._consume(consumer, shape, from_offset, limit))

    async def _consume(
        self, consumer: str, shape: type[ShapeT], from_offset: int, limit: int
    ) -> list[ShapeT]:
        durable = self._durables.get(consumer)
        if durable is None or not durable.first <= from_offset <= durable.next_seq:
            durable = await self._follow(consumer, from_offset)
        start = durable.held_from(from_offset)
        wanted = limit - (len(durable.held) - start)
        if wanted > 0:
            durable.keep(await self._pull(durable, wanted))
        end = start + limit
        return self._decoded(shape, durable.held[start:end], durable.seqs[start:end])

    def forget_decoded(self) -> None:
        """Drop the events kept decoded for the other processors (the runner's pass is over)."""
        self._decoded_by_shape = {}

    def _decoded(self, shape: type[ShapeT], messages: list[Any], seqs: list[int]) -> list[ShapeT]:
        """The messages' events decoded as `shape`, each decoded once for all the processors
        of this process that read that shape in a pass of the runner (every processor's
        consumer delivers every event; the SQL log's runner shares its reads the same way)."""
        known: dict[int, Any] = self._decoded_by_shape.setdefault(shape, {})
        events: list[ShapeT] = []
        for msg, seq in zip(messages, seqs, strict=True):
            event = known.get(seq)
            if event is None:
                event = known[seq] = decode_event(msg.data, shape)
                event.offset = seq
            events.append(event)
        if len(known) > DECODED_KEPT:
            for seq in list(itertools.islice(known, len(known) - DECODED_KEPT // 2)):
                del known[seq]
        return events

    async def _pull(self, durable: _Consumer, batch: int) -> list[Any]:
        """Up to `batch` messages the consumer has ready, asked for in one pull request:
        with `no_wait` the server answers at once with what it holds, and a status message
        when that is fewer (so no need to ask how many it holds first)."""
        durable.request = f"{durable.inbox}.{next(self._requests)}"
        durable.wanted = batch - len(durable.arrived)
        durable.done.clear()
        durable.status = ""
        if durable.wanted > 0:
            request = json.dumps({"batch": durable.wanted, "no_wait": True}).encode()
            await self._nc.publish(
                f"$JS.API.CONSUMER.MSG.NEXT.{self.options.stream}.{durable.name}",
                request,
                reply=durable.request,
            )
            try:
                async with asyncio.timeout(PULL_TIMEOUT):
                    await durable.done.wait()
            except TimeoutError:
                if not durable.arrived:
                    raise TimeoutError(
                        f"JetStream did not answer a read of {durable.name} "
                        f"within {PULL_TIMEOUT:g} s"
                    ) from None
        if not durable.arrived and durable.status not in ("", *_NO_MORE):
            raise LogUnavailable(
                f"JetStream answered a read of {durable.name} with status {durable.status}"
            )
        messages, durable.arrived = durable.arrived, []
        return messages

    async def _follow(self, consumer: str, start: int) -> _Consumer:
        """(Re-)create `consumer`'s durable consumer to deliver from `start`, and bind to it."""
        await self._release(consumer)
        name = self.consumer_name(consumer)
        with contextlib.suppress(NotFoundError):
            await self._js.delete_consumer(self.options.stream, name)
        config = api.ConsumerConfig(
            durable_name=name,
            description=f"Vigie processor {consumer}",
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=max(1, start),
            ack_policy=api.AckPolicy.ALL,
            ack_wait=ACK_WAIT_SECONDS,
            max_ack_pending=-1,
            max_deliver=-1,
            filter_subject=self._filters.get(consumer, self.partition_subject(None)),
        )
        await self._js.add_consumer(self.options.stream, config)
        durable = _Consumer(name, self._nc.new_inbox(), max(1, start))
        durable.sub = await self._nc.subscribe(f"{durable.inbox}.*", cb=durable.delivered)
        self._durables[consumer] = durable
        return durable

    def unprocessed(self, consumer: str) -> int | None:
        """How many events `consumer`'s durable consumer has not had acknowledged: not
        delivered yet, or delivered and not acknowledged (None: it does not exist yet)."""
        return self._call(self._unprocessed(consumer))

    async def _unprocessed(self, consumer: str) -> int | None:
        try:
            info = await self._js.consumer_info(self.options.stream, self.consumer_name(consumer))
        except NotFoundError:
            return None
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

    def release(self, consumer: str) -> None:
        """Stop following `consumer` here; what was fetched and not acknowledged is for the
        process that follows it next (from the acknowledgement floor)."""
        self._call(self._release(consumer))

    async def _release(self, consumer: str) -> None:
        old = self._durables.pop(consumer, None)
        if old is not None:
            with contextlib.suppress(Exception):
                await old.sub.unsubscribe()

    def checkpoint(self, consumer: str) -> int:
        """The next offset `consumer` has to read: past its durable consumer's
        acknowledgement floor (1 when it never ran)."""
        return self._call(self._get_checkpoint(consumer))

    async def _get_checkpoint(self, consumer: str) -> int:
        try:
            info = await self._js.consumer_info(self.options.stream, self.consumer_name(consumer))
        except NotFoundError:
            return await self._legacy_checkpoint(consumer)
        if info.ack_floor.consumer_seq:
            return int(info.ack_floor.stream_seq) + 1
        return int(info.config.opt_start_seq or 1)  # nothing acknowledged since created

    async def _legacy_checkpoint(self, consumer: str) -> int:
        try:
            entry = await self._kv.get(_checkpoint_key(consumer))
        except KeyNotFoundError:
            return 1
        return int(entry.value) if entry.value else 1

    def save_checkpoint(self, consumer: str, next_offset: int) -> None:
        """Record that `consumer` has processed every event before `next_offset`: the
        acknowledgement of the last of them it was delivered, waited for until JetStream has
        stored it; or the consumer re-created at `next_offset` (a replay from the start)."""
        self._call(self._save_checkpoint(consumer, next_offset))

    async def _save_checkpoint(self, consumer: str, next_offset: int) -> None:
        durable = self._durables.get(consumer)
        if durable is None or not durable.first <= next_offset <= durable.next_seq:
            await self._follow(consumer, next_offset)
            return
        done = durable.held_from(next_offset)
        if done:
            await durable.held[done - 1].ack_sync(timeout=_TIMEOUT)
            del durable.held[:done], durable.seqs[:done]

    def save_checkpoints(self, positions: Mapping[str, int]) -> None:
        """Save several consumers' positions (one key each in the KV bucket)."""
        for consumer, next_offset in positions.items():
            self.save_checkpoint(consumer, next_offset)

    def rejected(self, *, limit: int = 100, before: int | None = None) -> list[RejectedRecord]:
        """Rejected input, kept in the SQL store whatever log holds the events."""
        return self.rejects.rejected(limit=limit, before=before)


def _checkpoint_key(consumer: str) -> str:
    """A KV key for a consumer name (keys allow letters, digits, `-`, `_`, `=` and dots)."""
    return _UNSAFE_KEY.sub(lambda m: f"={ord(m.group()):04x}", consumer)
