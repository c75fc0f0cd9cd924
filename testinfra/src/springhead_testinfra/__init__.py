"""Springhead test infrastructure (placeholder until written)."""
