"""Developer tools for transferlab's own code (not shipped): ``python -m tools.imports``."""
