"""Persistence: SQLModel tables, engine and sessions, migrations and queries.

Imports nothing from the other mombot packages.
"""
