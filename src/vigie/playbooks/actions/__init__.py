"""Vigie's own actions, each registered through the `vigie.actions` entry points."""
