"""Where records come from besides emit(): files (NDJSON or a JSON array) and, for workers, streams."""

from .files import read_records

__all__ = ["read_records"]
