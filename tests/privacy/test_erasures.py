"""The log's erasure notice: a notice of Vigie's, honoured whatever its type was when logged,
and owed in the store until the log has taken it (on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from vigie.auth.audit import Actor
from vigie.clock import SystemClock
from vigie.crm.tables import contacts
from vigie.events import EVENT_TYPES, Event
from vigie.log.eventlog import LogUnavailable
from vigie.log.sql import SqlEventLog
from vigie.privacy import DataSubjects
from vigie.privacy.erasures import (
    ERASED,
    SOURCE,
    ErasureAnnouncements,
    ErasureNotices,
    ErasuresFollowed,
    erased_event,
)
from vigie.privacy.tables import erasure_notices, erasures

AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _forgets(events: list[Event]) -> int:
    calls: list[None] = []
    ErasureNotices(forget=lambda: calls.append(None)).process(events)
    return len(calls)


def test_the_notice_is_no_tracked_event_and_names_nobody() -> None:
    """The notice is of a type no client may send, with no person's id in it."""
    notice = erased_event(at=AT)
    assert notice.type == "notice" and notice.type not in EVENT_TYPES
    assert (notice.user_id, notice.anonymous_id, notice.properties) == (None, None, {})
    assert _forgets([notice]) == 1


def test_an_older_track_notice_replayed_is_still_honoured() -> None:
    """A notice logged as a `track` event before it became a notice still drops the copies;
    the same name from another source does not."""
    older = Event(message_id="e1", type="track", source=SOURCE, event=ERASED,
                  timestamp=AT, received_at=AT)  # fmt: skip
    forged = Event(message_id="e2", type="track", source="web", event=ERASED,
                   timestamp=AT, received_at=AT)  # fmt: skip
    assert _forgets([older]) == 1
    assert _forgets([forged]) == 0


class _Log:
    """The log the erasure notices go to, refusing appends while `down` (JetStream away)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.log = SqlEventLog(engine)
        self.down = False

    def announce(self) -> None:
        if self.down:
            raise LogUnavailable("the log is away")
        self.log.append([erased_event(at=datetime.now(UTC))], source=SOURCE)

    def notices(self) -> int:
        return sum(e.event == ERASED for e in self.log.read(1, 1000))


def _owed(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(erasure_notices)).scalar())


def _contact(engine: sa.Engine, contact_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            contacts.insert(),
            {"id": contact_id, "version": 1, "created_at": AT, "updated_at": AT,
             "email": f"{contact_id}@example.org", "anonymous_ids": [], "consent": {}},
        )  # fmt: skip


def test_a_notice_the_log_refused_stays_owed_and_another_process_sends_it(
    engine: sa.Engine,
) -> None:
    """An erasure whose notice the log refuses completes, and the notice stays owed in the
    store; another process's `settle` (the processors' timer) sends it once the log is back,
    once, and clears the debt."""
    log = _Log(engine)
    dying = ErasureAnnouncements(engine=engine, announce=log.announce)
    subjects = DataSubjects(engine=engine, clock=SystemClock(), announcements=dying)
    _contact(engine, "ct_owed")
    log.down = True
    erased = subjects.erase("ct_owed", actor=Actor(name="dpo", role="admin"))
    assert erased.contact_id == "ct_owed"
    assert (_owed(engine), log.notices()) == (1, 0)
    log.down = False
    later = ErasureAnnouncements(engine=engine, announce=log.announce)
    assert later.settle() is True
    assert later.settle() is False
    assert (_owed(engine), log.notices()) == (0, 1)


def test_a_sent_notice_clears_its_debt_and_no_timer_sends_it_again(engine: sa.Engine) -> None:
    """An erasure whose notice the log takes leaves nothing owed: the timer sends no second
    notice."""
    log = _Log(engine)
    announcements = ErasureAnnouncements(engine=engine, announce=log.announce)
    subjects = DataSubjects(engine=engine, clock=SystemClock(), announcements=announcements)
    _contact(engine, "ct_sent")
    subjects.erase("ct_sent", actor=Actor(name="dpo", role="admin"))
    assert announcements.settle() is False
    assert (_owed(engine), log.notices()) == (0, 1)


def test_a_notice_owed_by_an_erasure_committed_meanwhile_stays_owed(engine: sa.Engine) -> None:
    """An erasure whose debt commits, with a lower id, while another notice is being sent
    (PostgreSQL's ids are taken in order but commit in any order) is still owed after that
    notice: the next `settle` sends it."""
    sent: list[None] = []

    def announce() -> None:
        if not sent:
            with engine.begin() as conn:
                conn.execute(erasure_notices.insert().values(id=5, at_us=1))
        sent.append(None)

    with engine.begin() as conn:
        conn.execute(erasure_notices.insert().values(id=10, at_us=2))
    announcements = ErasureAnnouncements(engine=engine, announce=announce)
    announcements.send()
    assert announcements.settle() is True
    assert announcements.settle() is False
    assert len(sent) == 2


def test_a_process_following_the_store_forgets_once_per_erasure_made_elsewhere(
    engine: sa.Engine,
) -> None:
    """A process's first look only notes where the record of erasures stands; an erasure
    made by another process then makes its next look drop its copies, once."""
    forgotten: list[None] = []
    followed = ErasuresFollowed(engine=engine, forget=lambda: forgotten.append(None))
    assert followed.poll() is False
    _contact(engine, "ct_elsewhere")
    elsewhere = DataSubjects(engine=engine, clock=SystemClock())
    elsewhere.erase("ct_elsewhere", actor=Actor(name="dpo", role="admin"))
    assert followed.poll() is True
    assert followed.poll() is False
    assert len(forgotten) == 1


def test_an_erasure_committed_after_a_newer_one_is_still_followed(engine: sa.Engine) -> None:
    """An erasure recorded with a lower id that commits after a newer one was seen
    (PostgreSQL takes ids in order but commits in any order) still makes the next look
    drop the process's copies."""
    forgotten: list[None] = []
    followed = ErasuresFollowed(engine=engine, forget=lambda: forgotten.append(None))
    with engine.begin() as conn:
        conn.execute(erasures.insert().values(id=10, at_us=1))
    assert followed.poll() is False
    with engine.begin() as conn:
        conn.execute(erasures.insert().values(id=20, at_us=2))
    assert followed.poll() is True
    with engine.begin() as conn:
        conn.execute(erasures.insert().values(id=15, at_us=3))
    assert followed.poll() is True
    assert len(forgotten) == 2
