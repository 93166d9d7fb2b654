"""Headless training, evaluation, quantisation and export (the ``engine-train`` script). Never imports Qt."""
