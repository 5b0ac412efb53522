"""What the watchers put on the service's queue."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RawEvent:
    event_type: str  # created, modified, closed, moved (src may be ""), deleted
    src: str
    dest: str | None
    is_directory: bool


@dataclass(frozen=True)
class Overflow:
    """The kernel dropped events: the service rescans the tree."""
