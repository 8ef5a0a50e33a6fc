"""Analytics: sessions, visitor journeys, identity stitching, funnels, campaign slots, friction."""

from vigie.analytics.config import AnalyticsConfig
from vigie.analytics.processor import AnalyticsProcessor

__all__ = ["AnalyticsConfig", "AnalyticsProcessor"]
