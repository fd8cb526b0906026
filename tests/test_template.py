"""Templates for `sekret inject` (sekret._template): syntax, rendering, atomic writes, watch."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sekret import ConfigurationError, SecretNotFound, Secrets
from sekret._template import load_template, parse_template, render, render_to_file, watch
from sekret.testing import sentinel_value


@pytest.fixture
def secrets() -> Secrets:
    return Secrets("memory://", app="arrwdb", environment="staging")


def test_tags_render_references_and_literals(secrets: Secrets) -> None:
    """`{{ sekret "REF" }}` becomes the value; `{{ "{{" }}` a literal; other text stays."""
    password, key = sentinel_value("pw"), sentinel_value("key")
    secrets.put("db", {"password": password, "port": 5432})
    secrets.put("api-key", key)
    template = parse_template(
        'db:\n  password: "{{ sekret "sekret://db#password" }}"\n'
        '  port: {{sekret "sekret://db#port"}}\nkey: {{  sekret  "sekret://api-key"  }}\n'
        'raw: {{ "{{" }} x }}\n'
    )
    assert render(template, secrets) == (
        f'db:\n  password: "{password}"\n  port: 5432\nkey: {key}\nraw: {{{{ x }}}}\n'
    )


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("a: 1\nb: {{ .Data.password }}\n", "t.tpl:2:4"),
        ("{{ sekret 'sekret://db' }}", "t.tpl:1:1"),
        ('x {{ sekret "sekret://db"\n}}', "t.tpl:1:3"),
        ('ok\n\n  {{ env "HOME" }}', "t.tpl:3:3"),
        ('{{ sekret "sekret://db#a@v1" }}', "t.tpl:1:1"),
        ('{{ sekret "op://vault/item" }}', "t.tpl:1:1"),
    ],
)
def test_unknown_syntax_names_file_line_column(text: str, where: str) -> None:
    """Anything but the two tag forms is a ConfigurationError naming file:line:column."""
    with pytest.raises(ConfigurationError, match=where):
        parse_template(text, source="t.tpl")


@given(st.text(alphabet=st.characters(blacklist_characters="{"), max_size=200))
def test_text_without_braces_renders_unchanged(text: str) -> None:
    """A template without `{{` renders to exactly its own text, with no read."""
    secrets = Secrets("memory://", app="a", environment="e")
    assert render(parse_template(text), secrets) == text


def test_output_is_private_and_replaced_atomically(secrets: Secrets, tmp_path: Path) -> None:
    """The rendered file is 0600; a re-render replaces it; an unchanged render does not write."""
    secrets.put("api-key", sentinel_value())
    out = tmp_path / "conf" / "app.env"
    template = parse_template('KEY={{ sekret "sekret://api-key" }}\n')
    assert render_to_file(template, secrets, out) is True
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    inode = out.stat().st_ino
    assert render_to_file(template, secrets, out) is False
    assert out.stat().st_ino == inode
    secrets.put("api-key", sentinel_value())
    assert render_to_file(template, secrets, out) is True
    assert out.stat().st_ino != inode


def test_failed_render_leaves_old_file(secrets: Secrets, tmp_path: Path) -> None:
    """A reference that cannot be read fails the render before anything is written."""
    secrets.put("api-key", sentinel_value())
    out = tmp_path / "app.env"
    render_to_file(parse_template('K={{ sekret "sekret://api-key" }}\n'), secrets, out)
    before = out.read_bytes()
    broken = parse_template('K={{ sekret "sekret://api-key" }}\nM={{ sekret "sekret://missing" }}')
    with pytest.raises(SecretNotFound):
        render_to_file(broken, secrets, out)
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["app.env"]


def test_crash_mid_write_leaves_old_file(tmp_path: Path) -> None:
    """A process killed between writing the new file and the rename leaves the old file intact."""
    out = tmp_path / "app.env"
    out.write_bytes(b"OLD=1\n")
    out.chmod(0o600)
    code = textwrap.dedent(
        f"""\
        import os
        from pathlib import Path
        from sekret import Secrets
        from sekret._template import parse_template, render_to_file
        s = Secrets("memory://", app="a", environment="e")
        s.put("k", "x" * 50000)
        os.replace = lambda *a, **k: os._exit(9)  # the crash: after the write, before the swap
        render_to_file(parse_template('K={{{{ sekret "sekret://k" }}}}'), s, Path({str(out)!r}))
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", code], env=env, timeout=60, check=False)
    assert done.returncode == 9
    assert out.read_bytes() == b"OLD=1\n"


def test_watch_rerenders_after_put_and_runs_on_change(secrets: Secrets, tmp_path: Path) -> None:
    """watch re-renders when a value changes (after a put), calling on_change only then."""
    first, second = sentinel_value("one"), sentinel_value("two")
    secrets.put("api-key", first)
    template = tmp_path / "app.tpl"
    template.write_text('K={{ sekret "sekret://api-key" }}\n')
    out = tmp_path / "app.env"
    changes: list[bytes] = []
    rounds: list[int] = []

    def wait(_: float) -> bool:
        rounds.append(1)
        if len(rounds) == 2:
            secrets.put("api-key", second)
        return len(rounds) >= 4

    watch(
        template,
        out,
        secrets,
        wait=wait,
        interval=1,
        on_change=lambda: changes.append(out.read_bytes()),
    )
    assert changes == [f"K={first}\n".encode(), f"K={second}\n".encode()]


def test_watch_reports_errors_and_keeps_going(secrets: Secrets, tmp_path: Path) -> None:
    """A failing round is reported, keeps the old file, and the next round recovers."""
    secrets.put("api-key", sentinel_value())
    template = tmp_path / "app.tpl"
    template.write_text('K={{ sekret "sekret://api-key" }}\n')
    out = tmp_path / "app.env"
    errors: list[str] = []
    rounds: list[int] = []

    def wait(_: float) -> bool:
        rounds.append(1)
        if len(rounds) == 1:
            template.write_text('K={{ sekret "sekret://gone" }}\n')
        if len(rounds) == 2:
            template.write_text('K={{ sekret "sekret://api-key" }}\nX=1\n')
        return len(rounds) >= 3

    watch(template, out, secrets, wait=wait, interval=1, on_error=lambda e: errors.append(e.code))
    assert errors == ["not_found"]
    assert out.read_text().endswith("X=1\n")


def test_template_file_errors_are_configuration_errors(tmp_path: Path) -> None:
    """A missing or non-UTF-8 template is a ConfigurationError naming the file."""
    with pytest.raises(ConfigurationError, match="cannot be read"):
        load_template(tmp_path / "nope.tpl")
    (tmp_path / "bin.tpl").write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigurationError, match="not UTF-8"):
        load_template(tmp_path / "bin.tpl")
