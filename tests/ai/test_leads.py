"""A lead run and today's proposals."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from vigie.ai.config import AiConfig
from vigie.ai.leads import propose_today


def test_propose_today_prepares_then_reuses(tmp_path: Path) -> None:
    """From an empty directory it generates, trains and scores; a second call reuses it all."""
    section = AiConfig(data_dir=str(tmp_path / "ai"), top_leads=120)
    now = datetime(2026, 11, 30, 7, 30, tzinfo=UTC)  # Monday 08:30 in Brussels
    proposals = propose_today(section, now=now, rows=6000, lang="fr")
    assert proposals and sum(len(v) for v in proposals.values()) == 120
    for rep, items in proposals.items():
        expected = [item["expected"] for item in items]
        assert expected == sorted(expected, reverse=True)
        assert all(item["reason"].startswith("score") and rep in item["reason"] for item in items)
        assert all(item["due_at"] >= "2026-11-30T08:00:00+00:00" for item in items)
    run = section.run_dir / "leads.parquet"
    stamp = run.stat().st_mtime_ns
    again = propose_today(section, now=now, rows=6000, lang="fr")
    assert again == proposals
    assert run.stat().st_mtime_ns == stamp
    assert [p.name for p in section.models_dir.iterdir()] == ["v0001"]
