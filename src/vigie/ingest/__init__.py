"""Edges that bring events in: HTTP (Segment-compatible), and later MQTT and file import."""
