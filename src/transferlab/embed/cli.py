"""Sub-commands of this capability (see transferlab.cli)."""


def register(subparsers) -> None:
    """Add this capability's sub-commands to the ``transferlab`` parser."""
