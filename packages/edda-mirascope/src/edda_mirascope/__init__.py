"""Durable LLM calls for Edda with Mirascope."""
