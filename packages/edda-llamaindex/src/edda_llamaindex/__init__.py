"""Run LlamaIndex workflows durably on Edda: each step is a durable activity."""
