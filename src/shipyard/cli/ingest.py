"""`shipyard ingest` and `shipyard search`: index files, folders and URLs, then query them."""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from shipyard.cli.context import cli_services
from shipyard.cli.options import JSON, PROJECT
from shipyard.cli.output import console, emit, errors_as_messages, fail
from shipyard.errors import InvalidInput
from shipyard.knowledge.ingest_jobs import IngestItem, IngestReport, check_item_name
from shipyard.knowledge.loaders import SUPPORTED_SUFFIXES
from shipyard.knowledge.search import FUSIONS, MODES, SearchRequest, SearchResult
from shipyard.schemas.search import SearchHit

COLLECTION = typer.Option(..., "--collection", "-c", help="Collection name.")


@dataclass(frozen=True)
class _Source:
    """One file or URL to ingest; a file is only read when its turn comes."""

    label: str
    path: Path | None = None

    def item(self, max_bytes: int) -> IngestItem:
        """The item to ingest; a file is read (and its size checked) when the ingest reaches it."""
        path = self.path
        if path is None:
            return IngestItem.of_url(self.label)

        def read() -> bytes:
            size = path.stat().st_size
            if size > max_bytes:
                raise InvalidInput(f"{self.label}: {size} bytes is over SHIPYARD_MAX_FILE_BYTES ({max_bytes})")
            return path.read_bytes()

        return IngestItem.of_lazy_file(self.label, read)


def ingest(
    sources: list[str] = typer.Argument(..., help="Files, folders (recursed) and http(s) URLs."),
    collection: str = COLLECTION,
    glob: list[str] = typer.Option(
        [], "--glob", help="Only files matching (repeatable), e.g. '*.md'. Default: every supported type."
    ),
    exclude: list[str] = typer.Option([], "--exclude", help="Skip paths matching (repeatable), e.g. 'drafts/*'."),
    text_field: str | None = typer.Option(None, "--text-field", help="Field with the text in .csv/.json/.jsonl."),
    project: str = PROJECT,
    as_json: bool = JSON,
) -> None:
    """Index files, folders and URLs into a collection, with a progress bar.

    A document's id is its path as given (relative to the current folder) or its URL, so running
    the same command again skips what is unchanged and replaces what changed. Files that cannot be
    read are listed at the end (exit code 1); the rest are indexed.
    """
    with errors_as_messages():
        found = _expand(sources, glob, exclude)
    if not found:
        fail("no files to ingest (check the paths, --glob and --exclude)")
    with errors_as_messages(), cli_services() as services:
        knowledge = services.knowledge
        target = knowledge.collection(services.access.get_project(project).id, collection)
        max_bytes = services.settings.knowledge.max_file_bytes
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True, disable=as_json) as progress:
            task = progress.add_task(f"ingesting into {target.name}", total=len(found))

            def advance(done: int, label: str, report: IngestReport) -> None:
                progress.update(task, advance=1, description=f"{report.chunks} chunks · {label}")

            report = knowledge.ingest(
                target, (source.item(max_bytes) for source in found), text_field=text_field, on_item=advance
            )
    result = report.as_dict()
    emit(result, as_json, lambda: _print_report(result))
    if result["documents"]["failed"]:
        raise typer.Exit(1)


def search(
    query: str = typer.Argument(..., help="What to look for."),
    collection: str = COLLECTION,
    top_k: int = typer.Option(5, "--top-k", "-k", help="How many results (1-100)."),
    mode: str = typer.Option("hybrid", "--mode", help=f"One of {', '.join(MODES)}."),
    fusion: str = typer.Option("rrf", "--fusion", help=f"How hybrid fuses: {', '.join(FUSIONS)}."),
    filter_json: str | None = typer.Option(
        None, "--filter", help='Metadata filter as JSON, e.g. \'{"team": "sre", "year": {"$gte": 2024}}\'.'
    ),
    project: str = PROJECT,
    as_json: bool = JSON,
) -> None:
    """Search a collection and print the best chunks with where they come from."""
    with errors_as_messages(), cli_services() as services:
        try:
            conditions = json.loads(filter_json) if filter_json else None
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"--filter is not valid JSON: {exc}") from exc
        target = services.knowledge.collection(services.access.get_project(project).id, collection)
        request = SearchRequest.of(query=query, top_k=top_k, mode=mode, fusion=fusion, filter=conditions)
        results = services.knowledge.search(target, request)
    hits = [SearchHit.model_validate(result, from_attributes=True) for result in results]
    emit(hits, as_json, lambda: _print_results(results))


def _expand(sources: list[str], globs: list[str], excludes: list[str]) -> list[_Source]:
    found: list[_Source] = []
    for source in sources:
        if source.lower().startswith(("http://", "https://")):
            IngestItem.of_url(source)  # refused now, before anything is ingested
            found.append(_Source(source))
            continue
        path = Path(source)
        if path.is_file():
            found.append(_Source(check_item_name(_label(path)), path))
        elif path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                relative = file.relative_to(path).as_posix()
                if any(part.startswith(".") for part in file.relative_to(path).parts):
                    continue  # .git, .venv, editor files
                if globs and not any(fnmatch.fnmatch(file.name, g) or fnmatch.fnmatch(relative, g) for g in globs):
                    continue
                if not globs and file.suffix.lower() not in SUPPORTED_SUFFIXES:
                    continue
                if any(fnmatch.fnmatch(relative, x) or fnmatch.fnmatch(file.name, x) for x in excludes):
                    continue
                found.append(_Source(check_item_name(_label(file)), file))
        else:
            fail(f"{source}: no such file, folder or http(s) URL")
    return found


def _label(path: Path) -> str:
    """The document id of a file: its path relative to the current folder when it is inside it."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return resolved.as_posix()


def _print_report(result: dict[str, object]) -> None:
    counts = result["documents"]
    assert isinstance(counts, dict)
    summary = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
    console.print(f"{summary or 'nothing'}; {result['chunks']} chunks written", highlight=False)
    errors = result["errors"]
    assert isinstance(errors, list)
    for error in errors:
        console.print(f"  failed: {error['error']}", highlight=False, markup=False)


def _print_results(results: list[SearchResult]) -> None:
    if not results:
        console.print("no results")
    for number, result in enumerate(results, start=1):
        where = " > ".join(result.heading_path)
        start, end = result.span
        console.print(
            f"[bold][{number}][/bold] {escape(result.document_id)}{escape(' · ' + where) if where else ''}  "
            f"[dim](score {result.score:.3f}, characters {start}-{end})[/dim]",
            highlight=False,
        )
        text = " ".join(result.text.split())
        console.print("    " + (text[:300] + "…" if len(text) > 300 else text), highlight=False, markup=False)
