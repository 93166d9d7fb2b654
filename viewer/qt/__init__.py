"""Thin Qt views over viewer.model (PySide6 + pyqtgraph)."""
