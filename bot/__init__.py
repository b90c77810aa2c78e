"""The Telegram side of the bot (aiogram), its HTTP server and the operator's command line."""

from bot.lazy_aiogram import install as _install_lazy_aiogram

_install_lazy_aiogram()
