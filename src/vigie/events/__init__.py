"""The one `Event` model and converters from wire formats into it."""

from vigie.events.event import EVENT_TYPES, NOTICE_TYPE, Event, Rejection, notice_event

__all__ = ["EVENT_TYPES", "NOTICE_TYPE", "Event", "Rejection", "notice_event"]
