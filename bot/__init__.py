"""Grounded Q&A over a folder of news articles.

from bot import Bot
bot = Bot.load(corpus="seeds")
answer = bot.ask("How large is North Korea's military?")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.answer import Answer, Citation, Passage
    from bot.backends import Backend, register_backend
    from bot.core import Bot
    from bot.errors import BotError, Timeout
    from bot.settings import Settings

# name -> the module it comes from. Imported on first use: every `bot` command imports this package, and
# `bot --help` should not pay for numpy, the index and the rest of bot.core.
_EXPORTS = {
    "Answer": "bot.answer",
    "Citation": "bot.answer",
    "Passage": "bot.answer",
    "Backend": "bot.backends",
    "register_backend": "bot.backends",
    "Bot": "bot.core",
    "BotError": "bot.errors",
    "Timeout": "bot.errors",
    "Settings": "bot.settings",
}
__all__ = [
    "Answer",
    "Backend",
    "Bot",
    "BotError",
    "Citation",
    "Passage",
    "Settings",
    "Timeout",
    "register_backend",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'bot' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
