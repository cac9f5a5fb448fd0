"""CLI commands, one module per command group; each registers itself on ``vidstyle.cli.app``."""
