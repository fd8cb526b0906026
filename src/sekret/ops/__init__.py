"""Operator tasks built on the client, the manifest, the audit trail and rotation.

* ``sekret.ops.diff``: compare two environments (drift, rotation, reused values).
* ``sekret.ops.importing``: adopt secrets stored elsewhere under other names.
* ``sekret.ops.scan``: propose manifest entries from names and value shapes.

Each module is usable from code; ``sekret.cli`` wraps them as commands. None of
them prints, logs, returns or stores a value: results carry names, versions,
dates and kinds only.
"""
