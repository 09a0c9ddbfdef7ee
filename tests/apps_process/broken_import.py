"""A module that fails while it is imported, as an application with a bug at top level does."""

raise RuntimeError("boom at import")
