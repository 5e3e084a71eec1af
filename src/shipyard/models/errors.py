"""Errors of the model registry and serving."""

from __future__ import annotations

from shipyard.errors import Conflict, InvalidInput, NotFound, ShipyardError


class ModelNotFound(NotFound):
    """An unknown model, version or alias (the message names what exists)."""

    code = "model_not_found"


class DeploymentNotFound(NotFound):
    code = "deployment_not_found"


class NotApproved(Conflict):
    """A version that is not approved was asked to take production traffic."""

    code = "model_not_approved"


class RegistryUnavailable(ShipyardError):
    """The MLflow tracking server cannot be reached; loaded models keep serving."""

    code, http_status = "registry_unavailable", 503


class InvalidPayload(InvalidInput):
    """An inference request that does not fit the protocol or the model's signature."""

    code = "invalid_payload"


class PredictionFailed(InvalidInput):
    """The model rejected these inputs (it raised on them; other requests are unaffected)."""

    code, http_status = "prediction_failed", 422


class ModelUnavailable(ShipyardError):
    """The deployment has no working model (it failed to load, or is still loading)."""

    code, http_status = "model_unavailable", 503
