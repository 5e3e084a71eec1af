"""The HTTP edge: a FastAPI app over the domain services."""

from shipyard.api.app import create_app

__all__ = ["create_app"]
