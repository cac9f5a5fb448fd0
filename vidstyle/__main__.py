"""``python -m vidstyle`` = the ``vidstyle`` command."""

from .cli import main

main()
