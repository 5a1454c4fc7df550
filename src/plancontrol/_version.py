"""The version of plancontrol."""

__version__ = "0.1.0"
