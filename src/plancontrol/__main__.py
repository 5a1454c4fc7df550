"""Lets ``python -m plancontrol`` run the command line."""

from plancontrol.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
