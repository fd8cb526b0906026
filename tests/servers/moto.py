"""Test server fixture: moto (filled in by its backend work)."""
