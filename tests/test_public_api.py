"""The public surface of the sekret package."""

from __future__ import annotations

import inspect
import subprocess
import sys

import sekret


def test_all_is_exactly_the_public_names() -> None:
    """__all__ lists every public name the package exposes, sorted within groups, no extras."""
    public = {
        n
        for n, obj in vars(sekret).items()
        if not n.startswith("_") and not inspect.ismodule(obj) and n != "annotations"
    }
    public |= {"__version__"}
    assert set(sekret.__all__) == public
    assert len(sekret.__all__) == len(set(sekret.__all__))


def test_import_loads_no_sdk_or_cli() -> None:
    """`import sekret` imports no cloud SDK, no click and no asyncio."""
    heavy = ["boto3", "botocore", "hvac", "azure", "google", "click", "dotenv", "pydantic",
             "fastapi", "asyncio", "sqlite3", "requests"]
    code = (
        "import sys, sekret; "
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
