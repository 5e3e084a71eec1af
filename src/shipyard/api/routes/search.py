from __future__ import annotations

from fastapi import APIRouter, Request

from shipyard.api.deps import authorize, knowledge_of
from shipyard.api.routing import PrefixedRoute
from shipyard.api.schemas import ERROR_RESPONSES
from shipyard.auth import Role
from shipyard.knowledge.search import SearchRequest
from shipyard.schemas.search import SearchHit, SearchResponse

router = APIRouter(route_class=PrefixedRoute, prefix="/v1/collections", tags=["search"], responses=ERROR_RESPONSES)


@router.post("/{name}/search", operation_id="search_collection")
def search_collection(request: Request, name: str, body: SearchRequest) -> SearchResponse:
    """Hybrid (default), dense or lexical search with metadata filters; each hit cites its span."""
    principal = authorize(request, Role.VIEWER)
    knowledge = knowledge_of(request)
    collection = knowledge.collection(principal.project_id, name)
    results = knowledge.search(collection, body)
    return SearchResponse(results=[SearchHit.model_validate(result, from_attributes=True) for result in results])
