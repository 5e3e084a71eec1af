from __future__ import annotations

from shipyard.errors import ShipyardError


class EmbedderError(ShipyardError):
    """The embedding model could not be loaded or run."""

    code, http_status = "embedder_error", 503
