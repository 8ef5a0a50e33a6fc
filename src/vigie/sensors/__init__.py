"""The physical world: shops (RFID pick-ups, door counters, promotional displays) and city
zones (people counts, congestion, decongestion)."""
