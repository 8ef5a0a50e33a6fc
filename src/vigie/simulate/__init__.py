"""Realistic scenario generators for the demo, the tests and the benchmarks."""

from vigie.simulate.crm import CrmScenario
from vigie.simulate.lunch import LunchCampaign

__all__ = ["CrmScenario", "LunchCampaign"]
