"""The formats of ``sekret export``: text for a file, a shell, Docker or GitHub Actions.

* ``dotenv``: ``NAME='value'`` lines (python-dotenv, docker compose ``env_file``).
* ``shell``: ``export NAME='value'`` lines that ``set -a; . file`` and
  ``eval "$(...)"`` read back byte for byte: single quotes, each ``'`` written
  as ``'\\''``; nothing inside single quotes is special (``$``, backticks,
  ``\\``, newlines).
* ``docker``: ``NAME=value`` lines for ``docker run --env-file``, which takes
  the rest of the line literally (no quotes, no escapes): a value holding a
  line break (or NUL) cannot be written and is refused, naming the variable.
* ``json``: one object.
* ``github``: ``NAME<<DELIMITER`` blocks for ``$GITHUB_ENV`` (the delimiter is
  random and checked against the value), and ``::add-mask::`` commands, one
  per line of each value, that make the runner hide the values in its logs.

This module must never put a value in an error message.
"""

from __future__ import annotations

import json
import secrets as _random
from collections.abc import Mapping
from typing import Final

from sekret.exceptions import InvalidValue

__all__ = ["FORMATS", "github_masks", "render"]

FORMATS: Final = ("dotenv", "shell", "docker", "json", "github")


def _dotenv(variable: str, value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"{variable}='{escaped}'\n"


def shell_quote(value: str) -> str:
    """``value`` as one single-quoted POSIX shell word."""
    return "'" + value.replace("'", "'\\''") + "'"


def _shell(variable: str, value: str) -> str:
    return f"export {variable}={shell_quote(value)}\n"


def _docker(variable: str, value: str) -> str:
    if any(c in value for c in "\n\r\0"):
        raise InvalidValue(
            f"the value of {variable} holds a line break or NUL, which docker --env-file"
            " cannot carry (it reads one line per variable, without quoting):"
            " use --format shell or --format json, or store it without line breaks"
        )
    return f"{variable}={value}\n"


def _github(variable: str, value: str) -> str:
    while True:
        delimiter = f"SEKRET_EOF_{_random.token_hex(16)}"
        if delimiter not in value:
            break
    return f"{variable}<<{delimiter}\n{value}\n{delimiter}\n"


_LINE_FORMATS: Final = {"dotenv": _dotenv, "shell": _shell, "docker": _docker, "github": _github}


def render(variables: Mapping[str, str], fmt: str) -> str:
    """The mapping in ``fmt`` (one of ``FORMATS``), variables sorted by name."""
    if fmt == "json":
        return json.dumps(dict(sorted(variables.items())), indent=2) + "\n"
    line = _LINE_FORMATS[fmt]
    return "".join(line(k, v) for k, v in sorted(variables.items()))


def _command_data(text: str) -> str:
    # GitHub workflow command data escapes: the runner decodes %25, %0D and %0A.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def github_masks(values: Mapping[str, str]) -> str:
    """``::add-mask::`` for every non-empty line of every value (and the whole value)."""
    out: list[str] = []
    for value in values.values():
        lines = [line for line in value.splitlines() if line.strip()]
        for part in [value, *lines] if len(lines) > 1 else lines:
            out.append(f"::add-mask::{_command_data(part)}\n")
    return "".join(out)
