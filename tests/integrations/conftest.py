"""Fixtures for the in-process integration tests."""
