"""Helpers shared by the model modules."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Return the current time in UTC (timezone-aware); used as a per-row column default."""
    return datetime.now(UTC)
