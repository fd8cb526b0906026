"""Dynamic, short-lived credentials: ``Secrets.lease(name)`` returns a ``Lease``.

``Lease`` (``_lease``) renews itself in the background and switches to new
credentials before the old ones expire; ``hooks`` makes connection pools
(psycopg_pool, SQLAlchemy, any driver) follow it. See docs/leases.md.
"""

from __future__ import annotations

from sekret.backends.base import LeaseGrant
from sekret.leases._lease import Lease, RotateCallback

__all__ = ["Lease", "LeaseGrant", "RotateCallback"]
