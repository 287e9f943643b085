"""Training of the project's own small models, on real photos only (no weights from any hub)."""
