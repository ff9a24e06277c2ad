"""Grounded Q&A over a folder of news articles.

from bot import Bot
bot = Bot.load(corpus="seeds")
answer = bot.ask("How large is North Korea's military?")
"""

from bot.answer import Answer, Citation, Passage
from bot.backends import Backend, register_backend
from bot.core import Bot
from bot.errors import BotError
from bot.settings import Settings

__all__ = ["Answer", "Backend", "Bot", "BotError", "Citation", "Passage", "Settings", "register_backend"]
