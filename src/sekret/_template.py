"""Templates for ``sekret inject``: ``{{ sekret "REF" }}`` and nothing else.

Syntax (a tag never spans lines)::

    password: {{ sekret "sekret://db-credentials#password" }}
    literal braces: {{ "{{" }}       -> {{

A tag is ``{{``, optional spaces, then either ``sekret "REFERENCE"`` or a
quoted literal, optional spaces, ``}}``. Any other ``{{ ... }}`` is an error
that names ``file:line:column``, found before anything is read.

Why not Jinja2, even sandboxed: a template is configuration that people copy
from other projects; Jinja's sandbox still evaluates expressions, attribute
access and filters, has had escapes, and would make a new runtime
dependency. This syntax cannot execute anything, is parsed in full before
any secret is read (so a typo never half-reads), and needs only ``re``.

Rendering reads every reference through one ``Secrets`` client (cache,
audit, namespace, environment separation). The rendered bytes are written
with ``sekret._files.write_private``: 0600, atomic, so a failure anywhere
(a missing secret, a crash mid-render or mid-write) leaves the old output
intact and no partial file.

This module must never put a value into an error, a log line or a repr.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sekret._files import write_private
from sekret._refs import parse_reference
from sekret.exceptions import ConfigurationError, InvalidReference, SekretError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from sekret._secrets import Secrets

__all__ = [
    "Template",
    "load_template",
    "read_text",
    "parse_template",
    "render",
    "render_to_file",
    "watch",
]

_OPEN = "{{"
_TAG = re.compile(r'\{\{[ \t]*(?:(sekret)[ \t]+)?"([^"\n]*)"[ \t]*\}\}')
MAX_TEMPLATE_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class _Part:
    text: str  # literal text, or the reference when ``ref`` is True
    ref: bool


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed template: literal parts and references, in order."""

    source: str  # where it came from, for messages
    parts: tuple[_Part, ...]

    @property
    def references(self) -> list[str]:
        """The distinct references, in first-use order."""
        seen: dict[str, None] = {}
        for part in self.parts:
            if part.ref:
                seen.setdefault(part.text, None)
        return list(seen)


def _where(source: str, text: str, offset: int) -> str:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"{source}:{line}:{column}"


def _snippet(text: str, offset: int) -> str:
    end = text.find("\n", offset)
    chunk = text[offset : end if end != -1 else len(text)][:40]
    return repr(chunk)


def parse_template(text: str, *, source: str = "<template>") -> Template:
    """Parse ``text``; raise ConfigurationError naming ``source:line:column`` on bad syntax."""
    parts: list[_Part] = []
    pos = 0
    while True:
        start = text.find(_OPEN, pos)
        if start == -1:
            parts.append(_Part(text[pos:], False))
            break
        parts.append(_Part(text[pos:start], False))
        match = _TAG.match(text, start)
        if match is None:
            raise ConfigurationError(
                f"{_where(source, text, start)}: unknown template syntax {_snippet(text, start)};"
                ' write {{ sekret "sekret://NAME" }} (or {{ "{{" }} for literal braces)'
            )
        keyword, quoted = match.group(1), match.group(2)
        if keyword:
            try:
                parse_reference(quoted)
            except InvalidReference as exc:
                raise ConfigurationError(f"{_where(source, text, start)}: {exc.message}") from None
            parts.append(_Part(quoted, True))
        else:
            parts.append(_Part(quoted, False))
        pos = match.end()
    return Template(source, tuple(p for p in parts if p.text or p.ref))


def render(template: Template, secrets: Secrets) -> str:
    """The rendered text; each distinct reference is read once, through ``secrets``."""
    values = {ref: secrets.get(ref) for ref in template.references}
    return "".join(values[p.text] if p.ref else p.text for p in template.parts)


def read_text(path: Path, *, what: str, limit: int = MAX_TEMPLATE_BYTES) -> str:
    """A small UTF-8 file's text; ConfigurationError naming ``what`` and the path otherwise."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"{what} {path} cannot be read: {exc.strerror}") from exc
    if len(data) > limit:
        raise ConfigurationError(f"{what} {path} is larger than {limit} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigurationError(f"{what} {path} is not UTF-8 text") from None


def load_template(path: Path) -> Template:
    """Read and parse a template file (UTF-8, at most 1 MiB)."""
    return parse_template(read_text(path, what="template"), source=str(path))


def _digest(data: bytes) -> bytes:
    import hashlib  # lazy: only rendering needs it

    return hashlib.sha256(data).digest()


def _current_digest(output: Path) -> bytes | None:
    try:
        return _digest(output.read_bytes())
    except OSError:
        return None


def render_to_file(template: Template, secrets: Secrets, output: Path) -> bool:
    """Render and write ``output`` (0600, atomic) if its content changes; True if it did.

    Everything is read before anything is written: a failure leaves the old
    file as it was.
    """
    data = render(template, secrets).encode("utf-8")
    if _current_digest(output) == _digest(data) and output.stat().st_mode & 0o077 == 0:
        return False
    write_private(output, data, what="rendered file")
    return True


def watch(
    template_path: Path,
    output: Path,
    secrets: Secrets,
    *,
    wait: Callable[[float], bool],
    interval: float,
    on_change: Callable[[], None] | None = None,
    on_error: Callable[[SekretError], None] | None = None,
) -> None:
    """Re-render every ``interval`` seconds until ``wait(interval)`` returns True.

    Each round re-reads the template and refreshes every referenced secret
    from the backend (``Secrets.refresh``: the cache's forced re-read), so a
    rotation, a ``put`` or a mounted file's swap shows up. ``on_change`` runs
    after each round that changed the output file (the first included, if the
    file was missing or different). A failing round is reported through
    ``on_error`` and leaves the old file in place; the loop goes on.
    """
    first = True
    while True:
        try:
            template = load_template(template_path)
            if not first and secrets.cache is not None:  # without a cache every read is fresh
                for ref in template.references:
                    secrets.refresh(ref)
            changed = render_to_file(template, secrets, output)
        except SekretError as exc:
            if on_error is None:
                raise
            on_error(exc)
        else:
            if changed and on_change is not None:
                on_change()
        first = False
        if wait(interval):
            return
