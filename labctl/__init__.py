"""labctl: stand up a real multi-VM Kubernetes lab with one command."""

__version__ = "0.1.0"
