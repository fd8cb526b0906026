"""``sekret agent``: one process per host that logs in once, caches, and serves workers.

Workers use it as a backend, ``Secrets("agent:///run/sekret/agent.sock", ...)``
(``sekret.backends.agent``); their in-process cache stays in front. The
server (``AgentServer``), the wire protocol (``protocol``) and the metrics
endpoint (``metrics``) live here; docs/agent.md is the user's guide.

Importing this package loads nothing else: the client backend imports only
``sekret.agent.protocol``; the server side loads on first attribute use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sekret.agent._client import build_client
    from sekret.agent.metrics import AgentMetrics
    from sekret.agent.server import AgentConfig, AgentServer, Caller

__all__ = ["AgentConfig", "AgentMetrics", "AgentServer", "Caller", "build_client"]

_LAZY = {
    "AgentConfig": "sekret.agent.server",
    "AgentServer": "sekret.agent.server",
    "Caller": "sekret.agent.server",
    "AgentMetrics": "sekret.agent.metrics",
    "build_client": "sekret.agent._client",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sekret.agent' has no attribute {name!r}")
