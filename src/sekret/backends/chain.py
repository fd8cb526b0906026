"""``chain://``: an ordered list of backends that reads as one.

Typical use: ``env`` overrides in development, the real manager behind::

    chain://?backends=env://,local:///var/lib/app/secrets.db
    ChainBackend([EnvBackend(), VaultBackend(...)])

Reads
    Each operation is answered by the first member that holds the secret and
    supports the operation: ``versions``, a read by ``version`` and a read by
    a stage other than ``current`` skip members that do not declare
    ``VERSIONS`` (or ``STAGES``), such as ``env://``; a plain read asks every
    member. Members are asked in order; the first that has the secret answers.
    ``SecretNotFound`` (including ``SecretDeleted``) moves on to the next
    member; if nobody has it, the most specific miss is raised (a
    ``SecretDeleted`` before a plain not-found). A member that holds the
    secret but not the version or stage asked for (``VersionNotFound``)
    stops the chain: a version of another member's secret is never mixed in.
    ``AccessDenied`` and ``BackendUnavailable`` also stop the chain and are
    raised: silently serving a lower-priority value while the preferred
    backend is down would hide outages and can serve stale data. Pass
    ``skip_unavailable=True`` to fall through on ``BackendUnavailable`` only.

Writes
    Every write, stage move, delete, restore and destroy goes to one
    designated member: ``write=<index>`` (0-based), default the first member
    that declares ``WRITE``. A write does not remove a shadowing value in an
    earlier member (an ``env`` override keeps winning until unset).

Listing merges every listing member (first member wins a name).

This module must never import a concrete backend; members come built or as URLs.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, TypeVar
from urllib.parse import parse_qsl, urlsplit

from sekret._names import validate_name
from sekret._values import CURRENT, Page, Secret, SecretInfo, SecretValue, VersionInfo
from sekret.backends.base import DEFAULT_RECOVERY_DAYS, Backend, Capability, check_page_size
from sekret.exceptions import (
    BackendUnavailable,
    ConfigurationError,
    SecretDeleted,
    SecretNotFound,
    VersionNotFound,
)

__all__ = ["ChainBackend"]

T = TypeVar("T")
_TARGET_CAPS = (
    Capability.WRITE
    | Capability.DELETE
    | Capability.DESTROY
    | Capability.VERSIONS
    | Capability.STAGES
    | Capability.CAS
)


class ChainBackend(Backend):
    """Reads from the first member that has a secret; writes to one member."""

    scheme: ClassVar[str] = "chain"

    def __init__(
        self,
        backends: Sequence[Backend],
        *,
        write: int | None = None,
        skip_unavailable: bool = False,
        close_members: bool = False,
    ) -> None:
        if not backends:
            raise ConfigurationError("a chain needs at least one backend")
        self.members: tuple[Backend, ...] = tuple(backends)
        if write is None:
            write = next(
                (i for i, b in enumerate(self.members) if Capability.WRITE in b.capabilities),
                None,
            )
        elif not 0 <= write < len(self.members):
            raise ConfigurationError(
                f"chain write index {write} is outside 0..{len(self.members) - 1}"
            )
        self.write_index = write
        self._skip_unavailable = skip_unavailable
        self._close_members = close_members
        caps = Capability.READ
        for shared in (Capability.LIST, Capability.VERSIONS):
            if any(shared in b.capabilities for b in self.members):
                caps |= shared
        if write is not None:
            caps |= self.members[write].capabilities & _TARGET_CAPS
        self.capabilities = caps
        self.max_value_bytes = (
            self.members[write].max_value_bytes if write is not None else self.max_value_bytes
        )

    def consumed_env(self) -> frozenset[str]:
        """Every member's credential variables."""
        return frozenset().union(*(m.consumed_env() for m in self.members))

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        member_options: Mapping[str, Mapping[str, Any]] | None = None,
        **options: Any,
    ) -> ChainBackend:
        """``chain://?backends=URL,URL&write=1`` (or repeated, URL-encoded ``backend=URL``).

        ``member_options`` maps a member's scheme to keyword options for it.
        """
        from sekret.backends import open_backend, scheme_of  # lazy: avoids an import cycle

        parts = urlsplit(url)
        if parts.netloc or parts.path not in ("", "/"):
            raise ConfigurationError("chain:// takes no host or path; use chain://?backends=...")
        query = parse_qsl(parts.query, keep_blank_values=True)
        known = {"backends", "backend", "write", "skip_unavailable"}
        unknown = sorted({k for k, _ in query} - known)
        if unknown:
            raise ConfigurationError(f"chain:// does not know the option(s) {', '.join(unknown)}")
        urls: list[str] = []
        for key, value in query:
            if key == "backends":
                urls += [u for u in value.split(",") if u]
            elif key == "backend":
                urls.append(value)
        if not urls:
            raise ConfigurationError("chain:// needs backends=URL,URL (or backend=URL, repeated)")
        for key, value in query:
            if key == "write":
                try:
                    options.setdefault("write", int(value))
                except ValueError:
                    raise ConfigurationError(
                        f"chain:// write= must be a member index, not {value[:20]!r}"
                    ) from None
            elif key == "skip_unavailable":
                options.setdefault("skip_unavailable", value.lower() in ("1", "true", "yes"))
        extra = member_options or {}
        members: list[Backend] = []
        try:
            for member in urls:
                if scheme_of(member) == "chain":
                    raise ConfigurationError("a chain cannot contain another chain:// URL")
                members.append(open_backend(member, **dict(extra.get(scheme_of(member), {}))))
        except BaseException:
            for built in members:
                built.close()
            raise
        return cls(members, close_members=True, **options)

    def describe(self) -> str:
        inner = ",".join(b.describe() for b in self.members)
        write = f"&write={self.write_index}" if self.write_index is not None else ""
        return f"chain://?backends={inner}{write}"

    @property
    def identity(self) -> str | None:
        target = self._target_or_none()
        return target.identity if target is not None else None

    # -- reads ---------------------------------------------------------------
    def _supporting(self, operation: str, needed: Capability) -> tuple[Backend, ...]:
        members = tuple(m for m in self.members if needed in m.capabilities)
        if not members:
            raise self._unsupported(operation, needed)
        return members

    def _first(self, call: Callable[[Backend], T], members: Sequence[Backend] = ()) -> T:
        miss: SecretNotFound | None = None
        for member in members or self.members:
            try:
                return call(member)
            except VersionNotFound:
                raise
            except SecretNotFound as exc:
                if miss is None or (
                    isinstance(exc, SecretDeleted) and not isinstance(miss, SecretDeleted)
                ):
                    miss = exc
            except BackendUnavailable:
                if not self._skip_unavailable:
                    raise
        if miss is None:  # every member was skipped as unavailable
            raise BackendUnavailable(
                "every backend of the chain is unavailable", backend=self.describe()
            )
        raise miss

    def read(self, name: str, *, version: str | None = None, stage: str | None = None) -> Secret:
        validate_name(name)
        members: Sequence[Backend] = ()
        if version is not None:
            members = self._supporting("read by version", Capability.VERSIONS)
        elif stage not in (None, CURRENT):
            members = self._supporting("read by stage", Capability.STAGES)
        return self._first(lambda b: b.read(name, version=version, stage=stage), members)

    def versions(self, name: str) -> list[VersionInfo]:
        validate_name(name)
        members = self._supporting("versions", Capability.VERSIONS)
        return self._first(lambda b: b.versions(name), members)

    def list(
        self,
        prefix: str = "",
        *,
        page_size: int = 100,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> Page:
        check_page_size(page_size)
        if Capability.LIST not in self.capabilities:
            raise self._unsupported("list", Capability.LIST)
        merged: dict[str, SecretInfo] = {}
        for member in self.members:
            if Capability.LIST not in member.capabilities:
                continue
            token: str | None = None
            while True:
                page = member.list(prefix, page_token=token, include_deleted=include_deleted)
                for info in page.items:
                    merged.setdefault(info.name, info)
                token = page.next_token
                if token is None:
                    break
        return Page.after(merged, merged.__getitem__, page_token=page_token, page_size=page_size)

    # -- writes: to the designated member -------------------------------------
    def _target_or_none(self) -> Backend | None:
        return self.members[self.write_index] if self.write_index is not None else None

    def _target(self, operation: str, needed: Capability) -> Backend:
        target = self._target_or_none()
        if target is None or needed not in target.capabilities:
            raise self._unsupported(operation, needed)
        return target

    def write(
        self,
        name: str,
        value: SecretValue,
        *,
        stages: Collection[str] = (CURRENT,),
        expected_version: str | None = None,
        token: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> VersionInfo:
        validate_name(name)
        return self._target("write", Capability.WRITE).write(
            name,
            value,
            stages=stages,
            expected_version=expected_version,
            token=token,
            metadata=metadata,
        )

    def move_stage(
        self,
        name: str,
        stage: str,
        version: str | None,
        *,
        expected_version: str | None = None,
    ) -> None:
        self._target("move_stage", Capability.STAGES).move_stage(
            name, stage, version, expected_version=expected_version
        )

    def delete(self, name: str, *, recovery_days: int = DEFAULT_RECOVERY_DAYS) -> datetime:
        return self._target("delete", Capability.DELETE).delete(name, recovery_days=recovery_days)

    def restore(self, name: str) -> None:
        self._target("restore", Capability.DELETE).restore(name)

    def destroy(self, name: str) -> None:
        self._target("destroy", Capability.DESTROY).destroy(name)

    def close(self) -> None:
        if self._close_members:
            for member in self.members:
                member.close()
