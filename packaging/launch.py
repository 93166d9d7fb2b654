"""Entry point of the frozen viewer (PyInstaller runs this file as __main__)."""

from viewer.__main__ import main

if __name__ == "__main__":
    raise SystemExit(main())
