"""Slow-oscillation detection."""
