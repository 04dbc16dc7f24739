"""Run pydantic-graph graphs durably on Edda: each node is a durable activity."""
