"""`python -m labctl` runs the CLI."""

from labctl.cli.launch import main

main()
