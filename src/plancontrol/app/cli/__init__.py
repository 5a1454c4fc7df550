"""The ``plancontrol`` command line, its JSON output and its reference page."""
