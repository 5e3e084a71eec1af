"""Projects (tenants), API keys and roles."""

from shipyard.auth.models import ApiKey, CreatedKey, Principal, Project, Role
from shipyard.auth.service import DEFAULT_PROJECT, AccessService

__all__ = ["DEFAULT_PROJECT", "AccessService", "ApiKey", "CreatedKey", "Principal", "Project", "Role"]
