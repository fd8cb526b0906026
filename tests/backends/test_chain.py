"""The chain backend: first hit wins, errors stop the chain, writes go to one member."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sekret import (
    AccessDenied,
    BackendUnavailable,
    Capability,
    ConfigurationError,
    SecretDeleted,
    SecretNotFound,
    Secrets,
    SecretValue,
    UnsupportedOperation,
    VersionNotFound,
)
from sekret._values import Secret
from sekret.backends import open_backend
from sekret.backends.base import Backend
from sekret.backends.chain import ChainBackend
from sekret.backends.env import EnvBackend
from sekret.backends.memory import MemoryBackend
from sekret.testing import BackendContract


class TestChainContract(BackendContract):
    """A chain over two memory backends behaves like one full backend."""

    @pytest.fixture
    def backend(self) -> Iterator[ChainBackend]:
        with ChainBackend([MemoryBackend(), MemoryBackend()], close_members=True) as b:
            yield b


class _Failing(Backend):
    """A member that refuses or is down."""

    scheme = "failing"

    def __init__(self, error: Exception) -> None:
        self.error = error

    def read(self, name: str, *, version: str | None = None, stage: str | None = None) -> Secret:
        raise self.error


def test_first_hit_wins_and_misses_fall_through() -> None:
    """The first member holding a name answers; a miss asks the next member."""
    front, back = MemoryBackend(), MemoryBackend()
    front.write("a/d/k", SecretValue.of("front"))
    back.write("a/d/k", SecretValue.of("back"))
    back.write("a/d/only-back", SecretValue.of("back"))
    chain = ChainBackend([front, back])
    assert chain.read("a/d/k").value.text() == "front"
    assert chain.read("a/d/only-back").value.text() == "back"
    with pytest.raises(SecretNotFound):
        chain.read("a/d/nowhere")


def test_version_not_found_stops_the_chain() -> None:
    """A member holding the secret but not the version ends the search."""
    front, back = MemoryBackend(), MemoryBackend()
    front.write("a/d/k", SecretValue.of("one"))
    back.write("a/d/k", SecretValue.of("one"))
    back.write("a/d/k", SecretValue.of("two"))
    with pytest.raises(VersionNotFound):
        ChainBackend([front, back]).read("a/d/k", version="2")


def test_deleted_in_front_reports_deleted() -> None:
    """A soft-deleted secret nobody else holds reads as SecretDeleted, not plain not-found."""
    front, back = MemoryBackend(), MemoryBackend()
    front.write("a/d/k", SecretValue.of("v"))
    front.delete("a/d/k")
    with pytest.raises(SecretDeleted):
        ChainBackend([front, back]).read("a/d/k")


@pytest.mark.parametrize("error", [AccessDenied("no"), BackendUnavailable("down")])
def test_denied_or_unavailable_member_raises(error: Exception) -> None:
    """AccessDenied and BackendUnavailable stop the chain instead of falling through."""
    back = MemoryBackend()
    back.write("a/d/k", SecretValue.of("v"))
    with pytest.raises(type(error)):
        ChainBackend([_Failing(error), back]).read("a/d/k")


def test_skip_unavailable_falls_through() -> None:
    """With skip_unavailable, a down member is skipped; a denied one still raises."""
    back = MemoryBackend()
    back.write("a/d/k", SecretValue.of("v"))
    chain = ChainBackend([_Failing(BackendUnavailable("down")), back], skip_unavailable=True)
    assert chain.read("a/d/k").value.text() == "v"
    only_down = ChainBackend([_Failing(BackendUnavailable("down"))], skip_unavailable=True)
    with pytest.raises(BackendUnavailable, match="every backend"):
        only_down.read("a/d/k")


def test_writes_go_to_first_writable_member() -> None:
    """With env first (read-only), writes land in the memory member behind it."""
    memory = MemoryBackend()
    chain = ChainBackend([EnvBackend(environ={}), memory])
    assert chain.write_index == 1
    chain.write("a/d/k", SecretValue.of("v"))
    assert memory.read("a/d/k").value.text() == "v"
    assert Capability.WRITE in chain.capabilities


def test_writes_go_to_designated_member_and_env_still_shadows() -> None:
    """write=1 targets the second member; an env override keeps winning reads."""
    first, second = MemoryBackend(), MemoryBackend()
    chain = ChainBackend([first, second], write=1)
    chain.write("a/d/k", SecretValue.of("v"))
    with pytest.raises(SecretNotFound):
        first.read("a/d/k")
    assert second.read("a/d/k").value.text() == "v"
    shadowed = ChainBackend([EnvBackend(environ={"K": "override"}), second])
    assert shadowed.read("a/d/k").value.text() == "override"


def test_no_writable_member_is_unsupported() -> None:
    """A chain of read-only members declares no WRITE and refuses writes."""
    chain = ChainBackend([EnvBackend(environ={})])
    assert Capability.WRITE not in chain.capabilities
    with pytest.raises(UnsupportedOperation):
        chain.write("a/d/k", SecretValue.of("v"))


def test_url_form(tmp_path: Path) -> None:
    """chain://?backends=env://,memory://NAME&write=1 builds members in order."""
    chain = open_backend("chain://?backends=env://,memory://chain-url-test&write=1")
    assert isinstance(chain, ChainBackend)
    assert [m.scheme for m in chain.members] == ["env", "memory"]
    assert chain.write_index == 1
    assert "write=1" in chain.describe()
    chain.close()


def test_url_with_encoded_member_options(tmp_path: Path) -> None:
    """backend=URL (URL-encoded) carries a member's own query string."""
    from urllib.parse import quote

    dotenv = tmp_path / ".env"
    dotenv.write_text("KEY=from-file\n")
    chain = open_backend(
        "chain://?backend=" + quote(f"env://?dotenv={dotenv}", safe="") + "&backend=memory://",
        member_options={"env": {"environ": {}}},
    )
    assert chain.read("a/d/key").value.text() == "from-file"


@pytest.mark.parametrize(
    "url",
    [
        "chain://",
        "chain://?backends=memory://&write=x",
        "chain://?backends=memory://&write=5",
        "chain://?bogus=1",
        "chain://?backends=chain://",
        "chain://host?backends=memory://",
    ],
)
def test_bad_urls(url: str) -> None:
    """Malformed chain URLs are ConfigurationErrors."""
    with pytest.raises(ConfigurationError):
        open_backend(url)


def test_manifest_chain_gets_env_mapping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A manifest chain passes the secret's env name to its env member."""
    (tmp_path / "sekret.toml").write_text(
        'app = "a"\n[environments.dev]\nbackend = "chain://?backends=env://,memory://"\n'
        '[secrets.k]\nenv = "CUSTOM_K"\n'
    )
    monkeypatch.setenv("CUSTOM_K", "from-env")
    with Secrets.from_manifest(tmp_path / "sekret.toml", "dev") as secrets:
        assert secrets.get("k") == "from-env"
        secrets.put("other", "stored")
        assert secrets.get("other") == "stored"


def test_list_merges_members() -> None:
    """Listing merges both members, the first member winning a shared name."""
    front, back = MemoryBackend(), MemoryBackend()
    front.write("a/d/x", SecretValue.of("v"))
    back.write("a/d/x", SecretValue.of("v"))
    back.write("a/d/y", SecretValue.of("v"))
    back.write("a/d/y", SecretValue.of("w"))
    page = ChainBackend([front, back]).list("a/d/")
    assert [(i.name, i.current_version) for i in page.items] == [("a/d/x", "1"), ("a/d/y", "2")]


def test_dev_chain_answers_versions_from_the_member_that_supports_them(
    tmp_path: Path,
) -> None:
    """env:// first, local second (the documented dev chain): versions and stages work."""
    store = MemoryBackend()
    store.write("a/d/k", SecretValue.of("one"))
    store.write("a/d/k", SecretValue.of("two"), stages=("pending",))
    chain = ChainBackend([EnvBackend(environ={"K": "override"}), store])
    assert Capability.VERSIONS in chain.capabilities
    assert [v.version for v in chain.versions("a/d/k")] == ["1", "2"]
    assert chain.read("a/d/k", stage="pending").value.text() == "two"
    assert chain.read("a/d/k", version="1").value.text() == "one"
    assert chain.read("a/d/k").value.text() == "override"


def test_unsupported_message_shows_no_enum_repr() -> None:
    """A chain without any versioned member says so in words, never <Capability...>."""
    chain = ChainBackend([EnvBackend(environ={"K": "v"})])
    with pytest.raises(UnsupportedOperation) as caught:
        chain.versions("a/d/k")
    message = str(caught.value)
    assert "<Capability" not in message
    assert "Capability." not in message
    assert "needs versions" in message
    assert "read, list" in message
