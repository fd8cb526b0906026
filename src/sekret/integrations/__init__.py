"""Integrations with application frameworks: pydantic-settings, FastAPI, logging.

Each submodule imports its framework lazily (``sekret.integrations.fastapi``
needs the ``fastapi`` extra, ``.pydantic`` the ``pydantic`` extra); this
package itself imports nothing. Integrations use sekret's public API only.
"""

__all__: list[str] = []
