"""The PySide6 + pyqtgraph desktop application. Imports ``engine`` (runtime part only), never ``training``."""
