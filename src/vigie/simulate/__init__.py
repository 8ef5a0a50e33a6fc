"""Realistic scenario generators for the demo, the tests and the benchmarks."""

from vigie.simulate.lunch import LunchCampaign

__all__ = ["LunchCampaign"]
