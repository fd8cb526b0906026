"""sekret quick start: an app's secrets on the embedded encrypted store.

    python examples/quickstart.py            # in a temporary directory, removed afterwards
    python examples/quickstart.py ./demo     # keep the store in ./demo to try the CLI on it

It creates a store (no server), stores a Cohere-style API key and database
credentials for app "arrwdb" in environment "development", reads them back,
stages a second version of the key as ``pending`` and promotes it, shows
versions and stages, rolls back, and shows that another environment cannot
see them.

Values are generated at run time and never printed: only names, versions,
stages and sizes are.
"""

from __future__ import annotations

import secrets as random_source
import sys
import tempfile
from pathlib import Path

from sekret import PENDING, SecretNotFound, Secrets, SekretError
from sekret.backends.local import init_store

APP = "arrwdb"
ENV = "development"


def show_versions(client: Secrets, name: str) -> None:
    for info in client.versions(name):
        stages = ", ".join(sorted(info.stages)) or "-"
        print(f"    version {info.version}: {stages}")


def run(directory: Path) -> None:
    db = directory / "secrets.db"
    key_file = init_store(db)
    print(f"1. created the store {db}")
    print(f"   master key in {key_file} (mode 0600)")

    with Secrets(f"local://{db}", app=APP, environment=ENV) as client:
        first_key = random_source.token_urlsafe(30)
        database = {
            "host": "localhost",
            "port": 5432,
            "user": "arrwdb",
            "password": random_source.token_urlsafe(24),
        }
        stored = client.put("cohere-api-key", first_key)
        client.put("database", database)
        print(f"2. stored {stored.name} (version {stored.version})")
        print(f"   and {client.full_name('database')} (JSON)")

        key = client.get("cohere-api-key")
        creds = client.get_json("database")
        print(f"3. read back cohere-api-key: {len(key)} chars, matches: {key == first_key}")
        print(f"   read back database: keys {sorted(creds)}, matches: {creds == database}")

        second_key = random_source.token_urlsafe(30)
        staged = client.put("cohere-api-key", second_key, stages=[PENDING])
        print(
            f"4. staged a new cohere-api-key as version {staged.version} (pending);"
            f" current is still the first: {client.get('cohere-api-key') == first_key}"
        )
        show_versions(client, "cohere-api-key")

        promoted = client.promote("cohere-api-key")
        now = client.get_secret("cohere-api-key")
        print(
            f"5. promoted: cohere-api-key: {len(now.value.text())} chars,"
            f" version {promoted.version}"
        )
        show_versions(client, "cohere-api-key")

        back = client.rollback("cohere-api-key")
        restored = client.get("cohere-api-key")
        print(
            f"6. rolled back: version {back.version} is current again,"
            f" matches the first key: {restored == first_key}"
        )
        show_versions(client, "cohere-api-key")

        print("7. secrets in this environment:")
        for info in client.list():
            print(f"    {info.name}  current version {info.current_version}")

    with Secrets(f"local://{db}", app=APP, environment="production", read_only=True) as prod:
        try:
            prod.get("cohere-api-key")
        except SecretNotFound:
            print("8. a production client cannot see development's cohere-api-key (not found)")


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        directory = Path(argv[1]).absolute()
        directory.mkdir(parents=True, exist_ok=True)
        try:
            run(directory)
        except SekretError as exc:  # e.g. a store is already there
            print(f"quickstart: error: {exc}", file=sys.stderr)
            return 1
        print("\nTry the CLI on it:")
        print(f"    export SEKRET_BACKEND=local://{directory / 'secrets.db'} SEKRET_APP={APP}")
        print("    sekret list; sekret versions cohere-api-key")
        return 0
    with tempfile.TemporaryDirectory(prefix="sekret-quickstart-") as tmp:
        run(Path(tmp))
    print("\ndone (the temporary store was removed)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
