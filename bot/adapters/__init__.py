"""Adapters: one module (or package) per outside thing, each translating its errors once."""
