"""`vigie.yaml`: the one configuration file, validated at load with errors that name the
key path and the line.

Each part adds its own section here (metrics, rules, playbooks, people, sites …).
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import yaml

from vigie.ai.config import SOURCE as AI_SOURCE
from vigie.ai.config import AiConfig
from vigie.analytics.config import AnalyticsConfig
from vigie.analytics.config import problems as analytics_problems
from vigie.chat.config import ChatConfig
from vigie.crm.commands import RESERVED_SOURCE
from vigie.crm.sla import CrmConfig
from vigie.experiments.config import Experiment
from vigie.kpi.durations import parse_duration
from vigie.kpi.metrics import Metric
from vigie.playbooks.actions.base import ActionSettings
from vigie.playbooks.playbooks import Playbook
from vigie.privacy.config import PrivacyConfig
from vigie.privacy.config import problems as privacy_problems
from vigie.privacy.erasures import SOURCE as ERASURES_SOURCE
from vigie.review.weekly import ReviewSettings
from vigie.rules.definitions import Alerting, Rule
from vigie.schedule.schedules import ScheduleConfig
from vigie.sensors.places import SensorsConfig
from vigie.sensors.places import problems as sensors_problems
from vigie.sensors.readings import SOURCE as SENSORS_SOURCE
from vigie.sensors.rings import NOTICE_SOURCE
from vigie.sources.base import InboundSource

PLACEHOLDER_SECRETS = frozenset(
    {"", "change-me", "changeme", "change_me", "placeholder", "secret", "xxx", "test", "dev"}
)


_PROCESS_SECRET = secrets.token_urlsafe(32)


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the file, key path and line."""


class TrackerSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """What the browser tracker (`/t.js`) of a source may do before and after consent."""

    consent_required: bool = False
    """Store no visitor id and send nothing until the page calls
    `vigie.consent({analytics: true})`; set it where the law asks for consent first."""
    form_fields: list[str] = []
    """Names of form fields whose values a `Form Submitted` event carries (never a password);
    other fields are sent by name only."""
    chat: bool = False
    """Load the website chat's widget with the tracker (the same script tag)."""
    chat_origins: list[str] = []
    """The sites (`https://shop.example`) whose pages may open the chat's connections."""


class Source(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A sender of events, recognised by its write key."""

    name: str
    """The source's name, stored as the `source` of every event it sends."""
    write_key: str
    """The key its clients send with each request (the tracker tag's `data-write-key`, a
    Segment or PostHog client's key): a long random value, unique to the source."""
    description: str | None = None
    """Free text saying what sends through this source, for whoever reads the file."""
    tracker: TrackerSettings = msgspec.field(default_factory=TrackerSettings)
    rate_limit: Annotated[float, msgspec.Meta(gt=0)] | None = None
    """Requests per second this source may send on average (none: no limit); past it,
    ingestion answers 429 with `Retry-After`."""
    burst: Annotated[int, msgspec.Meta(ge=1)] = 100
    """Requests the source may send at once above `rate_limit` before it applies."""


class TimestampSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Which client timestamps are taken as sent; others are replaced by `receivedAt`."""

    max_ahead: str = "1d"
    """A duration: a time later than this after `receivedAt` is replaced."""
    not_before: date = date(2000, 1, 1)
    """A day (UTC): a time before it is replaced."""


class IngestSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """How incoming messages are normalised at the door."""

    timestamps: TimestampSettings = msgspec.field(default_factory=TimestampSettings)
    max_queued_batches: Annotated[int, msgspec.Meta(ge=1)] = 256
    """Requests waiting for the log's writer beyond which ingestion answers 503 with
    `Retry-After` (each holds at most 500 KB, so this bounds their memory)."""
    max_processor_lag: Annotated[int, msgspec.Meta(ge=0)] = 500_000
    """Events the slowest processor may be behind the log before ingestion answers 503
    with `Retry-After`; 0: never."""
    max_in_flight: Annotated[int, msgspec.Meta(ge=1)] = 16
    """Event requests worked on at once (read, parsed, validated, written) beyond which the
    next is answered 503 with `Retry-After` before its body is read, so that a flood sheds
    load instead of making every answer, the dashboard's included, wait seconds."""
    retry_after_seconds: Annotated[int, msgspec.Meta(ge=1, le=3600)] = 2
    """The `Retry-After` of those 503 answers."""


class HttpSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """What the HTTP server accepts before it does any work, and who may read `/metrics` and
    `/docs`."""

    max_body_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 1024 * 1024
    """The largest request body of the REST API (`/api/…`), refused with 413 while it streams."""
    max_import_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 20 * 1024 * 1024
    """The largest CSV file `POST /api/import/<entity>` takes; bigger: `vigie import`."""
    ops_token: str | None = None
    """When set, `/metrics` and `/docs` (with `/openapi.json`) answer only to
    `Authorization: Bearer <ops_token>` or to an address of `ops_allow`."""
    ops_allow: list[str] = []
    """Addresses or networks (`10.0.0.0/8`, `::1`) that may read `/metrics` and `/docs`;
    empty with no `ops_token`: everybody may."""


class ReadinessSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """When `/readyz` says the server may take traffic."""

    max_lag: str = "2m"
    """A duration: a processor whose oldest unprocessed event waits longer is not ready."""


class Config(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The whole of `vigie.yaml`."""

    environment: Literal["development", "production"] = "development"
    secret_key: str | None = None
    sources: list[Source] = []
    inbound: list[InboundSource] = []
    ingest: IngestSettings = msgspec.field(default_factory=IngestSettings)
    http: HttpSettings = msgspec.field(default_factory=HttpSettings)
    readiness: ReadinessSettings = msgspec.field(default_factory=ReadinessSettings)
    metrics: list[Metric] = []
    rules: list[Rule] = []
    alerting: Alerting = msgspec.field(default_factory=Alerting)
    analytics: AnalyticsConfig = msgspec.field(default_factory=AnalyticsConfig)
    schedule: ScheduleConfig = msgspec.field(default_factory=ScheduleConfig)
    """People and teams with their working hours, holidays and on-call rotas, and the policies that
    hold work messages outside working time (the right to disconnect)."""
    playbooks: list[Playbook] = []
    actions: ActionSettings = msgspec.field(default_factory=ActionSettings)
    """Where playbook actions send things: e-mail, signed webhooks, loudspeakers, screens, and the
    agents' queues."""
    crm: CrmConfig = msgspec.field(default_factory=CrmConfig)
    """Settings of the built-in CRM: the support tickets' SLA targets by priority."""
    ai: AiConfig = msgspec.field(default_factory=AiConfig)
    experiments: list[Experiment] = []
    privacy: PrivacyConfig = msgspec.field(default_factory=PrivacyConfig)
    sensors: SensorsConfig = msgspec.field(default_factory=SensorsConfig)
    chat: ChatConfig = msgspec.field(default_factory=ChatConfig)
    review: ReviewSettings = msgspec.field(default_factory=ReviewSettings)

    def source_for_key(self, write_key: str) -> Source | None:
        """The source whose write key is `write_key`, compared in constant time."""
        for source in self.sources:
            if secrets.compare_digest(source.write_key.encode(), write_key.encode()):
                return source
        return None

    def session_secret(self) -> str:
        """The key browser sessions are signed with: `secret_key`, or a per-process key in
        development (everybody is logged out when the server restarts)."""
        if self.secret_key:
            return self.secret_key
        if self.environment != "development":
            raise ValueError("secret_key is required outside development to sign sessions")
        return _PROCESS_SECRET


def default_config(*, environ: dict[str, str] | None = None) -> tuple[Config, bool]:
    """The configuration used without a file: one source `default`.

    Its write key comes from `VIGIE_WRITE_KEY`, or is generated; the boolean says whether
    it was generated (so the caller prints it).
    """
    env = os.environ if environ is None else environ
    key = env.get("VIGIE_WRITE_KEY")
    generated = not key
    return Config(
        sources=[Source(name="default", write_key=key or secrets.token_urlsafe(24))]
    ), generated


def load_config(path: str | Path) -> Config:
    """Read and validate `path`; raise `ConfigError` naming the key path and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration: {exc.strerror}") from exc
    return parse_config(text, origin=str(path))


def parse_config(text: str, *, origin: str = "vigie.yaml", complete: bool = True) -> Config:
    """Validate configuration text; see `load_config`. A fragment (`complete=False`, the
    KPI catalogue) may name rules and playbooks defined elsewhere."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{origin}:{where} is not valid YAML: {exc}") from exc
    if data is None:
        data = {}
    try:
        config = msgspec.convert(data, Config)
    except msgspec.ValidationError as exc:
        message, path = _split(str(exc))
        line = _line_of(node, path)
        where = f" (line {line})" if line else ""
        key = ".".join(str(p) for p in path) or "(top level)"
        raise ConfigError(f"{origin}: {key}{where}: {message}") from exc
    _check_semantics(config, node, origin, complete=complete)
    return config


def alerting_rules(config: Config) -> list[Rule]:
    """The rules the alerting engine runs: the file's, and one absence rule per sensor
    device (`sensor-silent-<id>`, its `silence`), so that a reader, door counter or camera
    that stops reporting raises an alert. A rule of that name in the file wins."""
    names = {rule.name for rule in config.rules}
    added = [
        Rule(
            name=f"sensor-silent-{device.id}",
            kind="absence",
            where={"source": "sensors", "properties.device": device.id},
            silence=device.silence,
            severity="warning",
            labels={"team": "sensors", "device": device.id},
            summary={
                "en": f"Sensor {device.id} has sent nothing for {device.silence}",
                "fr": f"Le capteur {device.id} n'a rien envoyé depuis {device.silence}",
            },
        )
        for device in config.sensors.devices
        if device.silence
        and _duration_ok(device.silence)
        and f"sensor-silent-{device.id}" not in names
    ]
    return [*config.rules, *added]


RESERVED_SOURCES = {
    RESERVED_SOURCE: "the CRM's own events",
    SENSORS_SOURCE: "the sensors' readings (each device sends with a key of its own)",
    NOTICE_SOURCE: "Vigie's notices that the rings' links changed",
    AI_SOURCE: "the lead-scoring model's monitoring",
    ERASURES_SOURCE: "Vigie's notices that a person was erased",
}
"""Sources Vigie's own parts append as: a configured source of that name would let its
clients forge their events (a website's key sending RFID reads into the shop's figures)."""


def _check_semantics(
    config: Config, node: yaml.Node | None, origin: str, *, complete: bool = True
) -> None:
    _check_metrics_and_rules(config, node, origin)
    _check_analytics(config, node, origin)
    _check_privacy(config, node, origin)
    names: set[str] = set()
    keys: set[str] = set()
    for i, source in enumerate(config.sources):
        line = _line_of(node, ["sources", i, "name"])
        if source.name in RESERVED_SOURCES:
            raise ConfigError(
                f"{origin}: sources.{i}.name (line {line}): {source.name!r} is reserved for "
                f"{RESERVED_SOURCES[source.name]}; choose another name"
            )
        if source.name in names:
            raise ConfigError(
                f"{origin}: sources.{i}.name (line {line}): source {source.name!r} is defined twice"
            )
        names.add(source.name)
        key_line = _line_of(node, ["sources", i, "write_key"])
        if source.write_key in keys:
            raise ConfigError(
                f"{origin}: sources.{i}.write_key (line {key_line}): "
                "two sources share this write key; give each its own"
            )
        keys.add(source.write_key)
        if config.environment != "development" and _is_placeholder(source.write_key):
            raise ConfigError(
                f"{origin}: sources.{i}.write_key (line {key_line}): {source.write_key!r} is a "
                "placeholder; set a real secret (e.g. `python -c 'import secrets; "
                "print(secrets.token_urlsafe(24))'`) or use environment: development"
            )
    if (
        config.environment != "development"
        and config.secret_key is not None
        and _is_placeholder(config.secret_key)
    ):
        line = _line_of(node, ["secret_key"])
        raise ConfigError(
            f"{origin}: secret_key (line {line}): a placeholder secret is refused outside "
            "development; set a long random value"
        )

    _check_playbooks(config, node, origin)
    _check_inbound(config, node, origin, taken=names)
    if complete:
        _check_references(config, node, origin)
    try:
        parse_duration(config.ingest.timestamps.max_ahead)
    except ValueError as exc:
        line = _line_of(node, ["ingest", "timestamps", "max_ahead"])
        raise ConfigError(f"{origin}: ingest.timestamps.max_ahead (line {line}): {exc}") from exc
    try:
        parse_duration(config.readiness.max_lag)
    except ValueError as exc:
        line = _line_of(node, ["readiness", "max_lag"])
        raise ConfigError(f"{origin}: readiness.max_lag (line {line}): {exc}") from exc
    try:
        parse_duration(config.alerting.alertmanager_resend)
    except ValueError as exc:
        line = _line_of(node, ["alerting", "alertmanager_resend"])
        raise ConfigError(f"{origin}: alerting.alertmanager_resend (line {line}): {exc}") from exc

    _check_http(config, node, origin)


def _check_http(config: Config, node: yaml.Node | None, origin: str) -> None:
    for i, entry in enumerate(config.http.ops_allow):
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError as exc:
            line = _line_of(node, ["http", "ops_allow", i])
            raise ConfigError(
                f"{origin}: http.ops_allow.{i} (line {line}): {entry!r} is not an address or "
                "a network such as 10.0.0.0/8"
            ) from exc
    if config.http.ops_token is not None and _is_placeholder(config.http.ops_token):
        line = _line_of(node, ["http", "ops_token"])
        raise ConfigError(
            f"{origin}: http.ops_token (line {line}): a placeholder is no protection; set a "
            "long random value"
        )


def _check_inbound(config: Config, node: yaml.Node | None, origin: str, *, taken: set[str]) -> None:
    """Inbound sources: a name of their own (it is their URL and their events' source), an
    installed kind, a real secret outside development, a readable tolerance."""
    from vigie.sources.registry import SourceRegistry

    kinds = SourceRegistry.from_entry_points().names()
    names = set(taken) | set(RESERVED_SOURCES)
    for i, source in enumerate(config.inbound):

        def where(key: str, i: int = i) -> str:
            return f"{origin}: inbound.{i}.{key} (line {_line_of(node, ['inbound', i, key])})"

        if source.name in names:
            raise ConfigError(
                f"{where('name')}: {source.name!r} is already a source name; choose another"
            )
        if not source.name or not all(c.isalnum() or c in "-_" for c in source.name):
            raise ConfigError(f"{where('name')}: use letters, digits, - and _ (it is a URL)")
        names.add(source.name)
        if source.kind not in kinds:
            raise ConfigError(
                f"{where('kind')}: unknown kind {source.kind!r}; installed: {', '.join(kinds)}"
            )
        if config.environment != "development" and _is_placeholder(source.secret):
            raise ConfigError(
                f"{where('secret')}: a placeholder secret is refused outside "
                "development; use the one the sender shows"
            )
        try:
            parse_duration(source.tolerance)
        except ValueError as exc:
            raise ConfigError(f"{where('tolerance')}: {exc}") from exc


def _check_playbooks(config: Config, node: yaml.Node | None, origin: str) -> None:
    from vigie.experiments.config import check as check_experiments
    from vigie.playbooks.registry import ActionRegistry
    from vigie.playbooks.validation import check as check_playbooks
    from vigie.review.weekly import check_settings as check_review
    from vigie.schedule.schedules import check as check_schedule

    problems = (
        check_schedule(config.schedule)
        + check_playbooks(
            config.playbooks,
            config.actions,
            config.schedule,
            actions=ActionRegistry.from_entry_points().names(),
        )
        + check_experiments(config.experiments)
        + check_review(
            config.review,
            lambda name: bool(config.schedule.person(name) or config.schedule.team(name)),
        )
    )
    if problems:
        path, message = problems[0]
        line = _line_of(node, path)
        where = f" (line {line})" if line else ""
        key = ".".join(str(p) for p in path)
        raise ConfigError(f"{origin}: {key}{where}: {message}")


def _duration_ok(text: str) -> bool:
    try:
        parse_duration(text)
    except ValueError:
        return False
    return True


def _check_references(config: Config, node: yaml.Node | None, origin: str) -> None:
    """A name that points at nothing is an error naming it: a playbook trigger's or a rule's
    missing counterpart, a zone, a site, an aisle or a device's place (issue 20)."""
    rules = {rule.name for rule in config.rules}
    playbooks = {playbook.name for playbook in config.playbooks}
    found: list[tuple[list[str | int], str]] = []
    for i, playbook in enumerate(config.playbooks):
        for j, trigger in enumerate(playbook.triggers):
            if trigger.rule not in rules:
                found.append(
                    (
                        ["playbooks", i, "triggers", j, "rule"],
                        f"playbook {playbook.name!r} is triggered by rule {trigger.rule!r}, "
                        "which is not defined in rules",
                    )
                )
    for i, rule in enumerate(config.rules):
        if rule.playbook is not None and rule.playbook not in playbooks:
            found.append(
                (
                    ["rules", i, "playbook"],
                    f"rule {rule.name!r} runs playbook "
                    f"{rule.playbook!r}, which is not defined in playbooks",
                )
            )
    found += [(["sensors", *path], message) for path, message in sensors_problems(config.sensors)]
    for i, zone in enumerate(config.actions.zones):
        if config.sensors.zones and config.sensors.zone(zone.name) is None:
            found.append(
                (["actions", "zones", i, "name"], f"zone {zone.name!r} is not in sensors.zones")
            )
    if found:
        path, message = found[0]
        line = _line_of(node, path)
        where = f" (line {line})" if line else ""
        key = ".".join(str(p) for p in path)
        raise ConfigError(f"{origin}: {key}{where}: {message}")


def _check_metrics_and_rules(config: Config, node: yaml.Node | None, origin: str) -> None:
    metric_names: set[str] = set()
    for i, metric in enumerate(config.metrics):
        problems = metric.check()
        if metric.name in metric_names:
            problems.insert(0, ("name", f"metric {metric.name!r} is defined twice"))
        for key, message in problems:
            line = _line_of(node, ["metrics", i, key])
            raise ConfigError(f"{origin}: metrics.{i}.{key} (line {line}): {message}")
        metric_names.add(metric.name)
    rule_names: set[str] = set()
    for i, rule in enumerate(config.rules):
        problems = rule.check(metric_names, rule_names)
        if rule.name in rule_names:
            problems.insert(0, ("name", f"rule {rule.name!r} is defined twice"))
        for key, message in problems:
            line = _line_of(node, ["rules", i, key])
            raise ConfigError(f"{origin}: rules.{i}.{key} (line {line}): {message}")
        rule_names.add(rule.name)


def _check_analytics(config: Config, node: yaml.Node | None, origin: str) -> None:
    for path, reason in analytics_problems(config.analytics):
        full: list[str | int] = ["analytics", *path]
        line = _line_of(node, full)
        key = ".".join(str(p) for p in full)
        raise ConfigError(f"{origin}: {key} (line {line}): {reason}")


def _check_privacy(config: Config, node: yaml.Node | None, origin: str) -> None:
    for path, reason in privacy_problems(config.privacy):
        full: list[str | int] = ["privacy", *path]
        line = _line_of(node, full)
        key = ".".join(str(p) for p in full)
        raise ConfigError(f"{origin}: {key} (line {line}): {reason}")
    visitor_ids = config.privacy.visitor_ids
    if config.environment != "development" and visitor_ids.pseudonymise:
        line = _line_of(node, ["privacy", "visitor_ids", "key"])
        if visitor_ids.key is None or _is_placeholder(visitor_ids.key):
            raise ConfigError(
                f"{origin}: privacy.visitor_ids.key (line {line}): a real key is required "
                "outside development to pseudonymise visitor ids (a placeholder is refused); "
                "set a long random value and keep it: changing it splits every visitor in two"
            )


def _is_placeholder(value: str) -> bool:
    lowered = value.strip().lower()
    return lowered in PLACEHOLDER_SECRETS or lowered.startswith("change") or len(lowered) < 12


RETIRED_KEYS = {
    "schedule.teams[].email": "no longer a setting: a team has no address of its own; "
    "notifications for a team go to its members' own channels while they are on duty (the "
    "right to disconnect), so give each person their `email` and remove this key",
}
"""Keys Vigie accepted once, with no effect, and refuses now: why, and what to do instead."""


def _split(text: str) -> tuple[str, list[str | int]]:
    """Split a msgspec error into its message and the key path it points at."""
    message, _, where = text.partition(" - at `$")
    path: list[str | int] = []
    for part in where.rstrip("`").replace("[", ".[").split("."):
        if not part:
            continue
        if part.startswith("[") and part.endswith("]"):
            path.append(int(part[1:-1]))
        else:
            path.append(part)
    if message.startswith("Object contains unknown field `"):
        path.append(message.split("`")[1])
        pattern = ".".join("[]" if isinstance(p, int) else p for p in path).replace(".[]", "[]")
        message = RETIRED_KEYS.get(pattern, "unknown key (check its spelling and indentation)")
    elif message.startswith("Object missing required field `"):
        path.append(message.split("`")[1])
        message = "required key is missing"
    return message, path


def _line_of(node: yaml.Node | None, path: list[str | int]) -> int | None:
    """The 1-based line of the YAML node at `path`, or of its nearest existing parent."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in path:
        child: Any = None
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            for key, value in node.value:
                if key.value == part:
                    child = value
                    line = key.start_mark.line + 1
                    break
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(node.value)
        ):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            return line
        node = child
    return line
