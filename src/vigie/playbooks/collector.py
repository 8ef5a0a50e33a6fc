"""Prometheus gauges read from the store at scrape time: playbook runs and notifications
by status (how many are held right now, how many runs failed)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from vigie.playbooks.runs import playbook_runs, playbook_steps
from vigie.schedule.notifications import notifications

logger = logging.getLogger(__name__)


class PlaybookCollector(Collector):
    """`vigie_playbook_runs{status}`, `vigie_notifications{status}` and
    `vigie_playbook_webhook_steps{status}`."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for table, name, text in (
            (playbook_runs, "vigie_playbook_runs", "Playbook runs recorded, by status."),
            (notifications, "vigie_notifications", "Notifications, by status (held: waiting)."),
        ):
            family = GaugeMetricFamily(name, text, labels=["status"])
            try:
                with self.engine.connect() as conn:
                    rows = conn.execute(
                        sa.select(table.c.status, sa.func.count()).group_by(table.c.status)
                    ).all()
            except sa.exc.SQLAlchemyError as exc:
                # The scrape must not fail (before the schema exists, the store away), but
                # a family left out is said, not silent.
                logger.warning(
                    "%s left out of /metrics: the store could not be read: %s", name, exc
                )
                rows = []
            for status, count in rows:
                family.add_metric([status], count)
            yield family
        family = GaugeMetricFamily(
            "vigie_playbook_webhook_steps",
            "Webhook steps of playbook runs, by status (running: posting; retrying: a try "
            "failed, another is due; succeeded: delivered; failed: gave up).",
            labels=["status"],
        )
        query = (
            sa.select(playbook_steps.c.status, sa.func.count())
            .where(playbook_steps.c.action == "webhook")
            .group_by(playbook_steps.c.status)
        )
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(query).all()
        except sa.exc.SQLAlchemyError as exc:
            logger.warning(
                "%s left out of /metrics: the store could not be read: %s",
                "vigie_playbook_webhook_steps",
                exc,
            )
            rows = []
        for status, count in rows:
            family.add_metric([status], count)
        yield family
