"""The torch side: layers, models, quantisation, export and profile (used by training and reports)."""
