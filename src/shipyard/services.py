"""Former name of `shipyard.platform`, kept while callers move over."""

from shipyard.platform import Platform as Services
from shipyard.platform import build_platform as build_services

__all__ = ["Services", "build_services"]
