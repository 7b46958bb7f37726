"""rareflow: export-control flow management for rare earths."""

__version__ = "0.1.0"
