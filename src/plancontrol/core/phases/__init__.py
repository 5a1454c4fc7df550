"""The phases of planning and control, each a function from (Context, Effects) to a Result."""
