"""`python -m labctl` runs the CLI."""

from labctl.cli.app import main

main()
