"""Playbooks: what Vigie does when an alert fires — written in vigie.yaml, run once per
firing, every step recorded; each action a plugin behind one small interface."""

from vigie.playbooks.engine import Plan, PlaybookEngine, PlaybookNotFound
from vigie.playbooks.playbooks import Playbook, Step, Trigger
from vigie.playbooks.registry import ActionRegistry
from vigie.playbooks.trigger import PlaybookTrigger

__all__ = [
    "ActionRegistry",
    "Plan",
    "Playbook",
    "PlaybookEngine",
    "PlaybookNotFound",
    "PlaybookTrigger",
    "Step",
    "Trigger",
]
