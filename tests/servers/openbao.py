"""Test server fixture: openbao (filled in by its backend work)."""
