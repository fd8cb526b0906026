"""Test server fixture: postgres (filled in by its backend work)."""
