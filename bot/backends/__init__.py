"""LLM backends behind one interface; see base.py."""

from bot.backends.base import (
    Backend,
    available_backends,
    backend_names,
    create_backend,
    register_backend,
    with_deadlines,
)

__all__ = [
    "Backend",
    "available_backends",
    "backend_names",
    "create_backend",
    "register_backend",
    "with_deadlines",
]
