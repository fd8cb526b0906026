"""The audit trail.

PLACEHOLDER: ``AuditLog`` with the final hook the facade uses; the real
pipeline (events, processors, sinks, hash chain) replaces it.
"""

from __future__ import annotations

from sekret.backends.base import Backend

__all__ = ["AuditLog"]


class AuditLog:
    """Records every backend operation the facade makes."""

    def wrap(self, backend: Backend, *, app: str, environment: str) -> Backend:
        """Return ``backend`` wrapped so that every operation emits an event."""
        return backend

    def attach_cache(self, cache: object) -> None:
        """Report the cache's hit counts as aggregate events."""

    def close(self) -> None:
        """Flush and close every sink."""
