"""Synthesis: prompts, parsing and validation (pure), the OpenAI-compatible client and the Ray Data worker."""
