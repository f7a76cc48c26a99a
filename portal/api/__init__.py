"""JSON API /api/v1 for ERPs and scripts: bearer tokens, the same services as the web UI."""

from portal.api.common import bp

__all__ = ["bp"]
