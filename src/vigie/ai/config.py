"""The `ai:` section of vigie.yaml: where the AI keeps its data, and the salespeople."""

from __future__ import annotations

from pathlib import Path

import msgspec

from vigie.ai.reps import Rep

SOURCE = "vigie-ai"
"""The source of the events the AI writes to the log (its lead runs' score checks): reserved,
no configured source may take it."""


class AiConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Settings of lead scoring and assignment."""

    data_dir: str = "vigie-data/ai"
    """The directory where the AI keeps the prospect base, its models and the latest lead run."""
    top_leads: int = 1000
    """How many of the best-scored leads a run keeps and hands to reps (the default of
    `vigie leads --top`)."""
    reps: list[Rep] = msgspec.field(default_factory=list)

    @property
    def root(self) -> Path:
        return Path(self.data_dir)

    @property
    def base_dir(self) -> Path:
        """The prospect base's Parquet partitions."""
        return self.root / "prospects"

    @property
    def history_file(self) -> Path:
        """The CRM deal history the model learns from."""
        return self.base_dir / "history" / "deals.parquet"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def run_dir(self) -> Path:
        """The latest lead run (leads.parquet, summary.json)."""
        return self.root / "leads"
