"""Shared test helpers: real servers on loopback, and required external parts."""
