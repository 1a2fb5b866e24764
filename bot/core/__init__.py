"""The core: chat-neutral decisions and the ports they use.

Imports the standard library, bot.errors and bot.core only (a contract test enforces it).
"""
