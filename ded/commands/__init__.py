"""CLI commands, one module each, each exposing `register(app)`."""
