"""Test doubles of the ports (test code, not shipped)."""
