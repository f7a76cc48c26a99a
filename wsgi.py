"""WSGI entry point: the only module-level app."""

from portal import create_app

app = create_app()
