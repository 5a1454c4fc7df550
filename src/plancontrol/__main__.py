"""Lets ``python -m plancontrol`` run the command line."""

from plancontrol.app.cli.main import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
