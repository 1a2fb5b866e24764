"""The wiring: the one place that builds the adapters from the config and connects them to
the core (models, chats, the running bot, check). Nothing here runs at import."""
