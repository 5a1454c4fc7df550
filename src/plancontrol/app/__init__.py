"""The public entry points: the library API, the command line and their options."""
