"""Synthetic tasks: item schema, generators, answer verifier (audit), study-format import/export."""
