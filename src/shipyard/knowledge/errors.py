from __future__ import annotations

from shipyard.errors import ShipyardError


class EmbedderError(ShipyardError):
    """The embedding model could not be loaded or run."""

    code, http_status = "embedder_error", 503


class DocumentTooLarge(ShipyardError):
    """A file whose contents would unpack past the loaders' limits (a decompression bomb, or too big to index)."""

    code, http_status = "document_too_large", 413
