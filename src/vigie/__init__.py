"""Vigie: a CRM that works as a real-time internal audit of a company."""

__version__ = "0.1.0"
