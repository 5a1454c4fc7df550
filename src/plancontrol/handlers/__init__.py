"""Real effect handlers: ag2 agents, model routes and prices, subprocesses, files, the terminal."""
