"""Verification and redemption at the point of sale: usage limits, idempotency."""
