"""recon: reconcile POS terminal records against bank and acquirer settlement files."""

__version__ = "0.1.0"
