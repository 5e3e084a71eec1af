"""Documents of a collection: ingest (JSON, file uploads, URLs) as a job; list, get, delete."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from shipyard.api.deps import authorize, knowledge_of, settings_of
from shipyard.api.direct import body_errors
from shipyard.api.routing import PrefixedRoute
from shipyard.api.schemas import ERROR_RESPONSES, IngestRequest, PageOf
from shipyard.auth import Role
from shipyard.errors import InvalidInput, UnsupportedMediaType
from shipyard.ids import ProjectId
from shipyard.jobs import Job
from shipyard.knowledge import KnowledgeService
from shipyard.knowledge.ingest_jobs import IngestItem
from shipyard.paging import MAX_PAGE_SIZE
from shipyard.schemas.documents import DocumentPublic
from shipyard.schemas.jobs import JobPublic

router = APIRouter(route_class=PrefixedRoute, prefix="/v1/collections", tags=["documents"], responses=ERROR_RESPONSES)

_INGEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/IngestRequest"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                        "text_field": {"type": "string"},
                    },
                    "required": ["files"],
                }
            },
        },
    }
}


@router.post(
    "/{name}/documents",
    operation_id="ingest_documents",
    status_code=status.HTTP_202_ACCEPTED,
    openapi_extra=_INGEST_BODY,
)
async def ingest_documents(request: Request, name: str) -> JobPublic:
    """Index documents as a job: JSON `{"documents": [...], "urls": [...]}` or multipart `files`.

    Returns the job; `GET /v1/jobs/{id}` shows progress and, at the end, counts per outcome
    (created, updated, unchanged, failed) and the error of every file or document that failed.
    """
    principal = authorize(request, Role.EDITOR)
    knowledge = knowledge_of(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        items, text_field = await _uploaded(request, settings_of(request).knowledge.max_file_bytes)
    elif content_type == "application/json":
        items, text_field = _json_items(await request.body())
    else:
        raise UnsupportedMediaType(
            f"send application/json or multipart/form-data, not {content_type or 'no content type'}"
        )
    job = await run_in_threadpool(_enqueue, knowledge, principal.project_id, name, items, text_field)
    return JobPublic.model_validate(job)


@router.get("/{name}/documents", operation_id="list_documents")
def list_documents(
    request: Request,
    name: str,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    cursor: str | None = None,
) -> PageOf[DocumentPublic]:
    """Documents by id; pass `next_cursor` back as `cursor` for the next page."""
    principal = authorize(request, Role.VIEWER)
    knowledge = knowledge_of(request)
    collection = knowledge.collection(principal.project_id, name)
    page = knowledge.list_documents(collection, limit=limit, after=cursor)
    return PageOf[DocumentPublic](data=[DocumentPublic.of(d) for d in page.items], next_cursor=page.next_cursor)


@router.get("/{name}/documents/{document_id:path}", operation_id="get_document")
def get_document(request: Request, name: str, document_id: str) -> DocumentPublic:
    principal = authorize(request, Role.VIEWER)
    knowledge = knowledge_of(request)
    collection = knowledge.collection(principal.project_id, name)
    return DocumentPublic.of(knowledge.get_document(collection, document_id))


@router.delete("/{name}/documents/{document_id:path}", operation_id="delete_document")
def delete_document(request: Request, name: str, document_id: str) -> DocumentPublic:
    """Remove a document and all its chunks and vectors (searches stop returning it at once)."""
    principal = authorize(request, Role.EDITOR)
    knowledge = knowledge_of(request)
    collection = knowledge.collection(principal.project_id, name)
    return DocumentPublic.of(knowledge.delete_document(collection, document_id))


def _enqueue(
    knowledge: KnowledgeService, project_id: ProjectId, name: str, items: list[IngestItem], text_field: str | None
) -> Job:
    collection = knowledge.collection(project_id, name)
    return knowledge.enqueue_ingest(collection, items, text_field=text_field)


def _json_items(body: bytes) -> tuple[list[IngestItem], str | None]:
    try:
        request = IngestRequest.model_validate_json(body)
    except ValidationError as exc:
        raise body_errors(exc) from exc
    return request.items(), request.text_field


async def _uploaded(request: Request, max_bytes: int) -> tuple[list[IngestItem], str | None]:
    items = []
    seen: set[str] = set()
    # The context closes the spooled temporary files the parts were buffered in.
    async with request.form() as form:
        for upload in form.getlist("files"):
            if not isinstance(upload, UploadFile):
                raise InvalidInput("files must be file parts (multipart with a filename)")
            name = safe_upload_name(upload.filename)
            if name in seen:
                raise InvalidInput(f"file {name!r} is uploaded twice in this request")
            seen.add(name)
            content = await upload.read()
            if len(content) > max_bytes:
                raise InvalidInput(f"{name}: {len(content)} bytes is over SHIPYARD_MAX_FILE_BYTES ({max_bytes})")
            items.append(IngestItem.of_file(name, content))
        text_field = form.get("text_field")
    if not items:
        raise InvalidInput("nothing to ingest: send one or more 'files' parts")
    return items, text_field if isinstance(text_field, str) and text_field else None


def safe_upload_name(filename: str | None) -> str:
    """The upload's name as a relative path: it only names the document, but a name like
    `../../etc/passwd` or `/abs` never survives as given (uploads are never written to disk)."""
    parts = [p for p in PurePosixPath((filename or "").replace("\\", "/")).parts if p not in ("/", ".", "..")]
    if not parts:
        raise InvalidInput("every uploaded file needs a file name")
    return "/".join(parts)
