"""Models: MLflow tracking and registry with approvals, deployments with canary/shadow/rollback,
and serving (micro-batched, hot-swapped, every prediction logged)."""

from shipyard.models.deployments import DEFAULT_ALIAS, Deployment, DeploymentService, ServingOptions
from shipyard.models.location import MlflowLocation, mlflow_location
from shipyard.models.predictions import PredictionLog, PredictionRecord
from shipyard.models.registry import Approval, ModelRegistry, ModelVersion, RegisteredModel
from shipyard.models.schema import InputSchema
from shipyard.models.serving import ModelServer, Prediction, Runtime

__all__ = [
    "DEFAULT_ALIAS",
    "Approval",
    "Deployment",
    "DeploymentService",
    "InputSchema",
    "MlflowLocation",
    "ModelRegistry",
    "ModelServer",
    "ModelVersion",
    "Prediction",
    "PredictionLog",
    "PredictionRecord",
    "RegisteredModel",
    "Runtime",
    "ServingOptions",
    "mlflow_location",
]
