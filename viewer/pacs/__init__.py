"""DICOM networking with a PACS (pynetdicom), Qt-free: nodes and settings, search, retrieve into a local cache, send."""
