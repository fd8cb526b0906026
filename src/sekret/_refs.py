"""References: one notation for a secret, a version or stage, and a field.

Grammar (documented for users in docs/references.md)::

    reference := "sekret://" ["/"] path ["@" selector] ["#" field]
    path      := a secret name (sekret._names grammar: segments of [A-Za-z0-9._-])
    selector  := "current" | "pending" | "previous"      a well-known stage
               | "v" DIGITS                              a version ("@v3" is version "3")
               | "version:" ID                           any version id (UUIDs, hashes)
               | "stage:" LABEL                          any stage label
    field     := 1-128 of [A-Za-z0-9._-]                 one key of a JSON object value

The selector comes before the field (``sekret://db@previous#password``), as in
a URL the fragment comes last; a field followed by ``@`` is refused rather
than guessed. Names never hold ``@``, ``#``, ``:`` or ``?``, so every split is
unambiguous.

Which secret a path names (resolution needs the client's Namespace):

* ``sekret://cohere-api-key`` -- a short name, under the client's
  ``app/environment``, exactly as ``secrets.get("cohere-api-key")``.
* ``sekret://arrwdb/staging/cohere-api-key`` -- when the first segment is the
  client's app, the path spells ``app/environment/name`` (so references can be
  copied between tools and read without guessing). A short name cannot begin
  with the app's own name in a reference: that would be ambiguous, and is
  refused unless the environment segment matches.
* ``sekret:///arrwdb/staging/cohere-api-key`` -- three slashes: the full path as
  the backend stores it (namespace prefix included), like ``file:///``.

A reference to another environment (or app, or prefix) than the client's is
refused with InvalidReference: environment separation stays structural.

Inside ``Secrets.get`` a name without the scheme may carry the same suffixes
(``secrets.get("db-credentials#password")``); it is always a short name.

This module must never do I/O, import anything heavy, or hold a value.
"""

from __future__ import annotations

from sekret._names import MAX_SEGMENT_LENGTH, validate_name
from sekret._values import CURRENT, PENDING, PREVIOUS, validate_stage
from sekret.exceptions import FieldNotFound, InvalidReference, InvalidSecretName, InvalidValue

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from sekret._names import Namespace
    from sekret._values import Secret

__all__ = [
    "SCHEME",
    "Reference",
    "field_text",
    "field_value",
    "is_reference",
    "looks_like_reference",
    "parse_reference",
    "select_field",
]

SCHEME = "sekret://"
MAX_REFERENCE_LENGTH = 600
_WELL_KNOWN_STAGES = (CURRENT, PENDING, PREVIOUS)
_TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"


def is_reference(text: str) -> bool:
    """True if ``text`` starts with ``sekret://`` (a reference, not a literal)."""
    return text.startswith(SCHEME)


def looks_like_reference(name: str) -> bool:
    """True if a name given to ``get`` needs the reference parser (scheme, ``#`` or ``@``)."""
    return "://" in name or "#" in name or "@" in name


def _shown(text: str) -> str:
    # References are not secret, but a value pasted by mistake may land here:
    # show a bounded, escaped prefix only (as sekret._names does for names).
    shown = text[:60].encode("unicode_escape").decode("ascii")
    return repr(shown + ("..." if len(text) > 60 else ""))


def _token(text: str, what: str, ref: str) -> str:
    if not 0 < len(text) <= MAX_SEGMENT_LENGTH or text.strip(_TOKEN_CHARS):
        raise InvalidReference(
            f"reference {_shown(ref)}: {what} must be 1-{MAX_SEGMENT_LENGTH} of [A-Za-z0-9._-]"
        )
    return text


class Reference:
    """A parsed reference: which secret, which version or stage, which field.

    ``rooted`` is True for ``sekret:///full/path``; ``explicit`` is True when
    the text carried the ``sekret://`` scheme (only then may the first segment
    name the app).
    """

    __slots__ = ("explicit", "field", "path", "rooted", "stage", "version")

    path: str
    rooted: bool
    explicit: bool
    version: str | None
    stage: str | None
    field: str | None

    def __init__(
        self,
        path: str,
        *,
        rooted: bool = False,
        explicit: bool = True,
        version: str | None = None,
        stage: str | None = None,
        field: str | None = None,
    ) -> None:
        if version is not None and stage is not None:
            raise InvalidReference("a reference selects a version or a stage, not both")
        self.path = path
        self.rooted = rooted
        self.explicit = explicit or rooted
        self.version = version
        self.stage = stage
        self.field = field

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Reference):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def _key(self) -> tuple[object, ...]:
        return (self.path, self.rooted, self.explicit, self.version, self.stage, self.field)

    def __str__(self) -> str:
        """The canonical spelling; ``parse_reference(str(ref)) == ref``."""
        out = (SCHEME if self.explicit else "") + ("/" if self.rooted else "") + self.path
        if self.stage is not None:
            out += "@" + (self.stage if self.stage in _WELL_KNOWN_STAGES else "stage:" + self.stage)
        elif self.version is not None:
            v = self.version
            out += "@" + ("v" + v if v.isdigit() and v.isascii() else "version:" + v)
        if self.field is not None:
            out += "#" + self.field
        return out

    def __repr__(self) -> str:
        return f"Reference({str(self)!r})"

    def full_name(self, namespace: Namespace) -> str:
        """The backend path this reference names for a client bound to ``namespace``.

        Raises InvalidReference for another app, environment or prefix.
        """
        root = namespace.root + "/"
        if self.rooted:
            if not self.path.startswith(root):
                raise InvalidReference(
                    f"reference {_shown(str(self))} is outside this client's namespace "
                    f"{namespace.root!r} (environment separation: a client reads only its own "
                    "environment)"
                )
            return self.path
        segments = self.path.split("/")
        if self.explicit and segments[0] == namespace.app and len(segments) >= 2:
            env = segments[1]
            if len(segments) < 3:
                raise InvalidReference(
                    f"reference {_shown(str(self))} starts with the app name, so it must spell "
                    f"app/environment/name (e.g. sekret://{namespace.app}/"
                    f"{namespace.environment}/NAME)"
                )
            if env != namespace.environment:
                raise InvalidReference(
                    f"reference {_shown(str(self))} names environment {env!r}; this client is "
                    f"bound to {namespace.environment!r} (environment separation). A reference "
                    "whose first segment is the app name is read as app/environment/name"
                )
            return namespace.full("/".join(segments[2:]))
        return namespace.full(self.path)


def _selector(text: str, ref: str) -> tuple[str | None, str | None]:
    """``(version, stage)`` from the text after ``@``."""
    if text in _WELL_KNOWN_STAGES:
        return None, text
    if text.startswith("version:"):
        return _token(text[8:], "the version id after '@version:'", ref), None
    if text.startswith("stage:"):
        label = text[6:]
        try:
            return None, validate_stage(label)
        except InvalidValue:
            raise InvalidReference(
                f"reference {_shown(ref)}: the stage after '@stage:' must be 1-64 of [A-Za-z0-9_.-]"
            ) from None
    if text[:1] == "v" and text[1:].isdigit() and text[1:].isascii():
        return text[1:], None
    raise InvalidReference(
        f"reference {_shown(ref)}: unknown selector after '@'; use @current, @pending, "
        "@previous, @v<number>, @version:<id> or @stage:<label>"
    )


def parse_reference(text: object, *, require_scheme: bool = True) -> Reference:
    """Parse ``text`` into a Reference, or raise InvalidReference saying what is wrong.

    With ``require_scheme=False`` a bare ``name[@selector][#field]`` is accepted
    too (what ``Secrets.get`` takes).
    """
    if not isinstance(text, str):
        raise InvalidReference(f"a reference must be a str, not {type(text).__name__}")
    if len(text) > MAX_REFERENCE_LENGTH:
        raise InvalidReference(
            f"reference {_shown(text)} is {len(text)} characters; the limit is "
            f"{MAX_REFERENCE_LENGTH}"
        )
    explicit = text.startswith(SCHEME)
    if explicit:
        rest = text[len(SCHEME) :]
    elif "://" in text:
        scheme = text.split("://", 1)[0][:20]
        raise InvalidReference(
            f"reference {_shown(text)} has scheme {scheme!r}; sekret reads only sekret:// "
            "references"
        )
    elif require_scheme:
        raise InvalidReference(f"{_shown(text)} is not a reference: it must start with sekret://")
    else:
        rest = text
    field: str | None = None
    if "#" in rest:
        rest, field = rest.split("#", 1)
        if "@" in field:
            raise InvalidReference(
                f"reference {_shown(text)}: '@' after '#': write the version or stage before "
                "the field, e.g. sekret://db-credentials@previous#password"
            )
        if "#" in field:
            raise InvalidReference(f"reference {_shown(text)} has more than one '#'")
        _token(field, "the field after '#'", text)
    version = stage = None
    if "@" in rest:
        rest, selector = rest.split("@", 1)
        if "@" in selector:
            raise InvalidReference(f"reference {_shown(text)} has more than one '@'")
        version, stage = _selector(selector, text)
    rooted = explicit and rest.startswith("/")
    path = rest[1:] if rooted else rest
    try:
        validate_name(path, what="secret name in the reference")
    except InvalidSecretName as exc:
        raise InvalidReference(f"reference {_shown(text)}: {exc.message}") from None
    return Reference(
        path, rooted=rooted, explicit=explicit, version=version, stage=stage, field=field
    )


def select_field(value: Any, field: str, *, name: str, backend: str | None = None) -> Any:
    """``value[field]`` for a parsed JSON object; FieldNotFound (naming the field) otherwise."""
    if not isinstance(value, dict):
        raise FieldNotFound(
            f"secret {name!r} is not a JSON object, so it has no field {field!r}",
            name=name,
            backend=backend,
        )
    try:
        return value[field]
    except KeyError:
        raise FieldNotFound(
            f"secret {name!r} has no field {field!r}", name=name, backend=backend
        ) from None


def field_value(secret: Secret, field: str, *, backend: str | None = None) -> Any:
    """A field of a JSON object secret, parsed (FieldNotFound if absent or not an object)."""
    try:
        parsed = secret.value.json()
    except InvalidValue:
        raise FieldNotFound(
            f"secret {secret.name!r} is not a JSON object, so it has no field {field!r}",
            name=secret.name,
            backend=backend,
        ) from None
    return select_field(parsed, field, name=secret.name, backend=backend)


def field_text(secret: Secret, field: str, *, backend: str | None = None) -> str:
    """A field of a JSON object secret as text: strings as they are, others as JSON."""
    got = field_value(secret, field, backend=backend)
    if isinstance(got, str):
        return got
    import json  # lazy: only non-text fields need it

    return json.dumps(got, separators=(",", ":"), ensure_ascii=False)
