"""Judges: blind captioning (sandbox pixels or a VLM over an OpenAI-compatible API), matching in code."""
