from __future__ import annotations

from fastapi import APIRouter, Request, status

from shipyard.api.deps import authorize, knowledge_of
from shipyard.api.routing import PrefixedRoute
from shipyard.api.schemas import ERROR_RESPONSES, CollectionCreate
from shipyard.auth import Role
from shipyard.knowledge import ChunkingConfig
from shipyard.schemas.collections import CollectionPublic

router = APIRouter(route_class=PrefixedRoute, prefix="/v1/collections", tags=["collections"], responses=ERROR_RESPONSES)


@router.post("", operation_id="create_collection", status_code=status.HTTP_201_CREATED)
def create_collection(request: Request, body: CollectionCreate) -> CollectionPublic:
    """Create a collection in the caller's project."""
    principal = authorize(request, Role.EDITOR)
    chunking = ChunkingConfig(**body.chunking.model_dump()) if body.chunking else None
    collection = knowledge_of(request).create_collection(
        principal.project_id, body.name, description=body.description, chunking=chunking, embedder=body.embedder
    )
    return CollectionPublic.of(collection)


@router.get("", operation_id="list_collections")
def list_collections(request: Request) -> list[CollectionPublic]:
    principal = authorize(request, Role.VIEWER)
    return [CollectionPublic.of(c) for c in knowledge_of(request).list_collections(principal.project_id)]


@router.get("/{name}", operation_id="get_collection")
def get_collection(request: Request, name: str) -> CollectionPublic:
    principal = authorize(request, Role.VIEWER)
    return CollectionPublic.of(knowledge_of(request).collection(principal.project_id, name))


@router.delete("/{name}", operation_id="delete_collection")
def delete_collection(request: Request, name: str) -> CollectionPublic:
    """Delete a collection (and, once documents exist, everything in it)."""
    principal = authorize(request, Role.EDITOR)
    return CollectionPublic.of(knowledge_of(request).delete_collection(principal.project_id, name))
