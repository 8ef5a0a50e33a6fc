"""The morning digest: what was held for someone while they were off duty, as one message in
their language and time zone, alerts that resolved meanwhile marked as such. Pure: the held
items, the person and an instant in, a subject and a body out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import msgspec

from vigie.schedule.intervals import zone
from vigie.schedule.schedules import Person

_DAYS = {
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "fr": ("lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim."),
}
_TEXTS = {
    "en": {
        "subject": "Vigie: {count} messages while you were away",
        "subject_one": "Vigie: 1 message while you were away",
        "resolved_count": " ({count} resolved since)",
        "resolved_one": " (1 resolved since)",
        "intro": "Hello {name}, here is what came for you between {first} and {last} ({zone}):",
        "resolved": "[resolved since]",
        "urgent": "[urgent]",
    },
    "fr": {
        "subject": "Vigie : {count} messages pendant votre absence",
        "subject_one": "Vigie : 1 message pendant votre absence",
        "resolved_count": " ({count} résolus depuis)",
        "resolved_one": " (1 résolu depuis)",
        "intro": "Bonjour {name}, voici ce qui vous attendait entre {first} et {last} ({zone}) :",
        "resolved": "[résolue depuis]",
        "urgent": "[urgent]",
    },
}


class DigestItem(msgspec.Struct, kw_only=True):
    """One held message, and whether the alert it was about has resolved since."""

    subject: str
    body: str
    created_at: datetime
    urgent: bool = False
    resolved: bool = False


def local_time(moment: datetime, *, language: str, location: str) -> str:
    """`moment` as the person reads it: weekday, date and time in their zone and language."""
    local = moment.astimezone(zone(location))
    day = _DAYS.get(language, _DAYS["en"])[local.weekday()]
    if language == "fr":
        return f"{day} {local:%d/%m/%Y %H:%M}"
    return f"{day} {local:%Y-%m-%d %H:%M}"


def compose(items: Sequence[DigestItem], *, person: Person) -> tuple[str, str]:
    """The subject and body of one digest of `items` (oldest first) for `person`."""
    texts = _TEXTS.get(person.language, _TEXTS["en"])
    ordered = sorted(items, key=lambda i: i.created_at)
    resolved = sum(1 for i in ordered if i.resolved)
    subject = texts["subject" if len(ordered) > 1 else "subject_one"].format(count=len(ordered))
    if resolved:
        subject += texts["resolved_count" if resolved > 1 else "resolved_one"].format(
            count=resolved
        )

    def when(moment: datetime) -> str:
        return local_time(moment, language=person.language, location=person.location)

    lines = [
        texts["intro"].format(
            name=person.display_name or person.name,
            first=when(ordered[0].created_at),
            last=when(ordered[-1].created_at),
            zone=person.location,
        ),
        "",
    ]
    for item in ordered:
        marks = [texts["urgent"]] if item.urgent else []
        marks += [texts["resolved"]] if item.resolved else []
        lines.append(" ".join(["-", when(item.created_at), "·", item.subject, *marks]))
        if item.body and item.body != item.subject:
            lines += [f"    {line}" for line in item.body.splitlines()]
    return subject, "\n".join(lines)
