"""File formats → text for chunking: .txt .md .html .pdf .docx .csv .json .jsonl.

Every loader returns normalised text (NFC, "\\n" line ends, no control characters but tab and
newline — what the chunker expects) and says whether it is markdown, so headings become heading
paths. HTML keeps its main text only (trafilatura: no scripts, navigation or footers) with headings
turned into markdown, and so does .docx ("Heading N" styles). Tabular formats give one document
per record. A file that cannot be read raises `UnsupportedDocument` or `CorruptDocument`, never a
library's own exception, so an ingest job can report it per file and go on. A .docx is a zip: it is
unpacked under size and ratio limits before python-docx sees it (see `archives`), and one that
would unpack past them raises `DocumentTooLarge` instead of exhausting the process's memory. A PDF's
pages are read under page-count, decoded-content and wall-time limits (see `pdfs`), and fail the
same way.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from shipyard.errors import ShipyardError
from shipyard.knowledge.archives import unpacked_zip


class UnsupportedDocument(ShipyardError):
    code, http_status = "unsupported_document", 415


class CorruptDocument(ShipyardError):
    code, http_status = "corrupt_document", 422


@dataclass(frozen=True)
class LoadedDocument:
    text: str
    markdown: bool
    title: str | None = None
    # The record's own id (tabular formats), used as the document's external id.
    external_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


# Field names tried, in order, for a record's text when none is given.
TEXT_FIELDS = ("text", "content", "body")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Above this share of control characters a "text" file is binary data (a stray NUL or BEL in a
# real text file is removed instead).
_BINARY_SHARE = 0.05


def load(data: bytes, filename: str, *, text_field: str | None = None) -> list[LoadedDocument]:
    """The documents in one file, by its extension."""
    suffix = PurePath(filename).suffix.lower()
    loader = _LOADERS.get(suffix)
    if loader is None:
        raise UnsupportedDocument(
            f"{filename}: unsupported file type {suffix or '(none)'}; supported: {', '.join(sorted(_LOADERS))}"
        )
    try:
        return loader(data, text_field)
    except ShipyardError as exc:
        raise type(exc)(f"{filename}: {exc.message}") from exc
    except Exception as exc:  # noqa: BLE001 - any parser failure is "this file is corrupt"
        raise CorruptDocument(f"{filename}: cannot be read as {suffix[1:]} ({type(exc).__name__}: {exc})") from exc


def normalize_text(text: str) -> str:
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    return _CONTROL.sub("", text).removeprefix("\ufeff")


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM) or UTF-16 with BOM, else the most likely legacy encoding."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16")
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            from charset_normalizer import from_bytes

            best = from_bytes(data).best()
            if best is None:
                raise CorruptDocument("binary data, not text") from None
            text = str(best)
    if text and len(_CONTROL.findall(text)) / len(text) > _BINARY_SHARE:
        raise CorruptDocument("binary data, not text")
    return text


def _text(data: bytes, _: str | None) -> list[LoadedDocument]:
    return [LoadedDocument(normalize_text(decode_text(data)), markdown=False)]


def _markdown(data: bytes, _: str | None) -> list[LoadedDocument]:
    text = normalize_text(decode_text(data))
    title = next((line[2:].strip() for line in text.split("\n") if line.startswith("# ")), None)
    return [LoadedDocument(text, markdown=True, title=title)]


def _html(data: bytes, _: str | None) -> list[LoadedDocument]:
    import trafilatura

    html = decode_text(data)
    text = trafilatura.extract(html, output_format="markdown", include_comments=False, include_tables=True)
    if not text or not text.strip():
        raise CorruptDocument("no readable main text in this HTML")
    meta = trafilatura.extract_metadata(html)
    return [LoadedDocument(normalize_text(text), markdown=True, title=meta.title if meta else None)]


def _pdf(data: bytes, _: str | None) -> list[LoadedDocument]:
    from pypdf import PdfReader

    from shipyard.knowledge.pdfs import page_texts  # imports pypdf: only when a PDF is loaded

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted and not reader.decrypt(""):
        raise CorruptDocument("the PDF is encrypted")
    pages = [normalize_text(text).strip() for text in page_texts(reader, len(data))]
    text, offsets = "", []
    for page in pages:
        offsets.append(len(text))
        text += page + "\n\n"
    if not text.strip():
        raise CorruptDocument("no text layer in this PDF (scanned pages need OCR, which shipyard does not do)")
    title = str(reader.metadata.title) if reader.metadata and reader.metadata.title else None
    # page_offsets[i] is where page i+1 starts in the text: citations can name the page.
    return [LoadedDocument(text.strip(), markdown=False, title=title, metadata={"page_offsets": offsets})]


def _docx(data: bytes, _: str | None) -> list[LoadedDocument]:
    from docx import Document

    document = Document(unpacked_zip(data))
    lines: list[str] = []
    # Heading level by paragraph style id, looked up once per style: python-docx finds a style by
    # scanning all of them (~2 ms a paragraph), minutes of CPU for a long document.
    levels: dict[str | None, int] = {}
    for paragraph in document.paragraphs:
        text = paragraph.text.strip()
        if not text:
            continue
        style_id = paragraph._p.style
        if style_id not in levels:
            style = paragraph.style.name if paragraph.style is not None else ""
            levels[style_id] = (
                int(style.split()[-1]) if style.startswith("Heading ") and style.split()[-1].isdigit() else 0
            )
        level = levels[style_id]
        lines.append(f"{'#' * min(level, 6)} {text}" if level else text)
    for table in document.tables:
        lines.extend(" | ".join(cell.text.strip() for cell in row.cells) for row in table.rows)
    title = document.core_properties.title or next((line.lstrip("# ") for line in lines if line.startswith("#")), None)
    return [LoadedDocument(normalize_text("\n\n".join(lines)), markdown=True, title=title or None)]


def _csv(data: bytes, text_field: str | None) -> list[LoadedDocument]:
    text = decode_text(data)
    dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|") if text.strip() else csv.excel
    rows = list(csv.DictReader(io.StringIO(text), dialect=dialect))
    return [_record(row, text_field, f"row {i + 2}") for i, row in enumerate(rows)]


def _json(data: bytes, text_field: str | None) -> list[LoadedDocument]:
    value = json.loads(decode_text(data))
    if isinstance(value, dict) and isinstance(value.get("documents"), list):
        value = value["documents"]
    records = value if isinstance(value, list) else [value]
    return [_record(_object(r, f"item {i}"), text_field, f"item {i}") for i, r in enumerate(records)]


def _jsonl(data: bytes, text_field: str | None) -> list[LoadedDocument]:
    documents = []
    for number, line in enumerate(decode_text(data).split("\n"), start=1):
        if line.strip():
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CorruptDocument(f"line {number} is not JSON: {exc.msg}") from exc
            documents.append(_record(_object(record, f"line {number}"), text_field, f"line {number}"))
    return documents


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CorruptDocument(f"{where} is {type(value).__name__}, expected an object")
    return value


def _record(record: dict[str, Any], text_field: str | None, where: str) -> LoadedDocument:
    """One record → one document: the text field is the text, `id`/`title` are kept, the rest is metadata."""
    field_name = text_field or next((name for name in TEXT_FIELDS if name in record), None)
    if field_name is None or field_name not in record:
        wanted = text_field or " or ".join(TEXT_FIELDS)
        raise CorruptDocument(f"{where} has no {wanted} field; fields are: {', '.join(map(str, record)) or 'none'}")
    external_id = record.get("id")
    metadata = {
        key: value
        for key, value in record.items()
        if key not in (field_name, "id", "title") and isinstance(value, str | int | float | bool) and value != ""
    }
    return LoadedDocument(
        normalize_text(str(record[field_name] or "")),
        markdown=False,
        title=str(record["title"]) if record.get("title") else None,
        external_id=str(external_id) if external_id not in (None, "") else None,
        metadata=metadata,
    )


_LOADERS: dict[str, Callable[[bytes, str | None], list[LoadedDocument]]] = {
    ".txt": _text,
    ".text": _text,
    ".md": _markdown,
    ".markdown": _markdown,
    ".html": _html,
    ".htm": _html,
    ".pdf": _pdf,
    ".docx": _docx,
    ".csv": _csv,
    ".json": _json,
    ".jsonl": _jsonl,
    ".ndjson": _jsonl,
}
SUPPORTED_SUFFIXES = tuple(sorted(_LOADERS))
