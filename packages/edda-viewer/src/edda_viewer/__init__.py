"""Edda viewer: see, start and operate durable workflows in the browser (NiceGUI)."""
