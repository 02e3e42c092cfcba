"""Stages: each module exposes `main(params, lake=None, ...)` around pure functions; nothing runs at import."""
