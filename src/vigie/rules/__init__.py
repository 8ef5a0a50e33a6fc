"""Rules over live KPIs: conditions, the alert lifecycle, webhooks and backtesting."""

from vigie.rules.alerts import Alert, AlertListener, fingerprint
from vigie.rules.definitions import Alerting, Rule, Webhook
from vigie.rules.evaluator import AlertingEngine

__all__ = ["Alert", "AlertListener", "Alerting", "AlertingEngine", "Rule", "Webhook", "fingerprint"]
