"""A PDF's text read under limits, so a decompression bomb fails as one bad file.

pypdf caps each decoded stream (75 MB) but not their sum, and keeps every decoded stream cached on
its object: 4 pages of Flate-compressed text operators (a 287 KB file) took 361 MB and 73 s.
Decoding is cheap; what costs is text extraction, which here parses 1-2 MiB of content stream a
second and holds ~20 bytes of Python objects per byte of the page it parses. So `page_texts`:

- refuses a PDF with more than `MAX_PAGES` pages before reading any page;
- decodes each page's content streams itself before pypdf extracts the page, with pypdf's own
  per-stream output limits (`pypdf.apply_configuration`) lowered to what is left of the page's and
  the document's budget, so a bomb stops inflating there, and charges the bytes to both budgets;
- measures each form XObject (a content stream a page draws with `Do`) once per document, and
  charges it each time a page draws it, before pypdf parses it: a visitor sees every `Do` first,
  so a small form drawn 5,000 times costs what it costs, and one a page never draws costs nothing.
  Pages without forms get no visitor, which keeps pypdf's shortcut of not parsing content that
  has no text operator;
- forgets each page's decoded streams once the page is read, so memory holds one page's worth;
- stops when the document has taken `MAX_SECONDS`, checked before each page and each form.

A PDF past a limit raises `DocumentTooLarge` naming the limit; the loader prefixes the file name.
The limits are constants, not settings: they bound one running ingest job, which
`SHIPYARD_MAX_FILE_BYTES` does not change.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pypdf import PageObject, PdfReader, apply_configuration
from pypdf.errors import LimitReachedError
from pypdf.generic import ArrayObject, DictionaryObject, EncodedStreamObject, StreamObject

from shipyard.errors import ConfigError
from shipyard.knowledge.errors import DocumentTooLarge

MIB = 1024 * 1024
# A long book has 500-1,500 pages, and a 10 MB upload holds about 5,000 pages of text at ~2 KB of
# compressed content each (measured: 1,000 pages of 4.7 KB, 607 KB, read in 2.6 s).
MAX_PAGES = 5_000
# Content streams one page may decode and parse, its forms' drawings included. A dense page of text
# is 5-50 KB and a detailed vector figure a few MB; 8 MiB parses in 5-10 s and peaks at 100-160 MB.
MAX_PAGE_BYTES = 8 * MIB
# The document's budget is this multiple of the file's size: text-heavy content inflates 3-10x
# (the 1,000 pages above: 7.7x) and is only part of a file (fonts and images are the rest); 16x
# leaves room for generators that repeat more, while a bomb inflates ~1000x.
BYTES_PER_INPUT_BYTE = 16
# ...but at least this, so a small file with a few vector figures passes (5-10 s of extraction)...
MIN_DOCUMENT_BYTES = 8 * MIB
# ...and at most this: about a minute of extraction, ~6,000 pages of text at 10 KB.
MAX_DOCUMENT_BYTES = 64 * MIB
# Wall time per document, checked between pages and forms: 20x the 1,000-page PDF above. This is
# how long one file may hold the ingest job (in the API process on the embedded default).
MAX_SECONDS = 60.0


@dataclass(frozen=True)
class PdfLimits:
    """What reading one PDF may cost; see the constants above for why each default."""

    max_pages: int = MAX_PAGES
    max_page_bytes: int = MAX_PAGE_BYTES
    bytes_per_input_byte: int = BYTES_PER_INPUT_BYTE
    min_document_bytes: int = MIN_DOCUMENT_BYTES
    max_document_bytes: int = MAX_DOCUMENT_BYTES
    max_seconds: float = MAX_SECONDS

    def __post_init__(self) -> None:
        for name in ("max_pages", "max_page_bytes", "bytes_per_input_byte", "min_document_bytes", "max_seconds"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"PdfLimits.{name} must be > 0, got {getattr(self, name)}")
        if self.max_document_bytes < self.min_document_bytes:
            raise ConfigError(
                f"PdfLimits.max_document_bytes must be >= min_document_bytes ({self.min_document_bytes}), "
                f"got {self.max_document_bytes}"
            )

    def document_bytes(self, input_bytes: int) -> int:
        """The decoded content-stream budget of a PDF file of `input_bytes`."""
        return min(max(input_bytes * self.bytes_per_input_byte, self.min_document_bytes), self.max_document_bytes)


def page_texts(reader: PdfReader, input_bytes: int, limits: PdfLimits | None = None) -> list[str]:
    """Each page's extracted text, for a PDF file of `input_bytes`. Raises `DocumentTooLarge` past a limit."""
    limits = limits or PdfLimits()
    if (count := len(reader.pages)) > limits.max_pages:
        raise DocumentTooLarge(f"the PDF has {count:,} pages; the limit for one document is {limits.max_pages:,}")
    budget = _Budget(limits, limits.document_bytes(input_bytes), count)
    # Streams pypdf decodes on its own (fonts' ToUnicode maps, …) are held to a page's budget too.
    with _output_limit(limits.max_page_bytes):
        return [budget.page_text(number, page) for number, page in enumerate(reader.pages, start=1)]


@contextmanager
def _output_limit(limit: int) -> Iterator[None]:
    """pypdf's per-stream output limits, all lowered to `limit` bytes (ASCII filters only shrink data)."""
    with apply_configuration(
        zlib_maximum_output_length=limit,
        lzw_maximum_output_length=limit,
        run_length_maximum_output_length=limit,
        brotli_maximum_output_length=limit,
        array_based_stream_maximum_output_length=limit,
    ):
        yield


class _Budget:
    """Decoded bytes and time left for one document, charged page by page."""

    def __init__(self, limits: PdfLimits, document_bytes: int, page_count: int) -> None:
        self._limits, self._page_count = limits, page_count
        self._document_bytes = self._document_left = document_bytes
        self._deadline = time.monotonic() + limits.max_seconds
        self._page, self._page_left = 0, limits.max_page_bytes
        # Decoded size of each form XObject by object identity, measured once per document: a
        # generator may share one resource dictionary holding every form among all pages.
        self._form_sizes: dict[int, int] = {}
        self._decoded: list[StreamObject] = []
        self._exceeded: DocumentTooLarge | None = None

    def page_text(self, number: int, page: PageObject) -> str:
        self._page, self._page_left, self._exceeded = number, self._limits.max_page_bytes, None
        self._check_time()
        try:
            for stream in _streams(page.get("/Contents")):
                self._decode(stream)
            form_bytes = self._measure_forms(page.get("/Resources"))
            visitor = self._drawing(form_bytes) if form_bytes else None
            text = page.extract_text(visitor_operand_before=visitor)
            if self._exceeded is not None:  # raised in a nested form, where pypdf logs and skips errors
                raise self._exceeded
            return text
        finally:
            # pypdf would keep them cached for the reader's lifetime.
            for stream in self._decoded:
                if isinstance(stream, EncodedStreamObject):
                    stream.decoded_self = None
            self._decoded.clear()

    def _decode(self, stream: StreamObject) -> None:
        """Decode a page's content stream (pypdf keeps it cached for extraction) and charge it."""
        limit = min(self._page_left, self._document_left) + 1
        self._decoded.append(stream)
        with _output_limit(limit):
            try:
                size = len(stream.get_data())
            except LimitReachedError as exc:  # pypdf stopped inflating at `limit`: over a budget
                raise self._overspent(limit) or DocumentTooLarge(str(exc)) from exc
        self._charge(size)

    def _measure_forms(self, resources: Any) -> dict[str, int]:
        """Decoded size of each form XObject the page can draw, by resource name (largest if several)."""
        sizes: dict[str, int] = {}
        pending, seen = [resources], set()
        while pending:
            xobjects = _dictionary(_dictionary(pending.pop()).get("/XObject"))
            for name, value in xobjects.items():
                form = value.get_object()
                if not isinstance(form, StreamObject) or form.get("/Subtype") != "/Form" or id(form) in seen:
                    continue
                seen.add(id(form))
                self._decoded.append(form)  # pypdf caches what it draws: forgotten after the page
                sizes[name] = max(sizes.get(name, 0), self._form_size(form))
                pending.append(form.get("/Resources"))
        return sizes

    def _form_size(self, form: StreamObject) -> int:
        """A form's decoded size, more than a page's budget if it holds more (decoded, then forgotten)."""
        if (size := self._form_sizes.get(id(form))) is None:
            self._check_time()
            try:
                size = len(form.get_data())
            except LimitReachedError:  # more than the page budget pypdf is held to in `page_texts`
                size = self._limits.max_page_bytes + 1
            if isinstance(form, EncodedStreamObject):
                form.decoded_self = None
            self._form_sizes[id(form)] = size
        return size

    def _drawing(self, form_bytes: dict[str, int]) -> Callable[[Any, Any, Any, Any], None]:
        """A pypdf visitor charging a form at the `Do` that draws it, before pypdf parses the form."""

        def visit(operator: bytes, operands: list[Any], _cm: Any, _tm: Any) -> None:
            if self._exceeded is not None:
                raise self._exceeded
            if operator == b"Do" and operands and (size := form_bytes.get(str(operands[0]))):
                try:
                    self._check_time()
                    self._charge(size)
                except DocumentTooLarge as exc:
                    self._exceeded = exc
                    raise

        return visit

    def _charge(self, size: int) -> None:
        if error := self._overspent(size):
            raise error

    def _overspent(self, size: int) -> DocumentTooLarge | None:
        """Take `size` bytes from the page's and the document's budgets; the error if either is spent."""
        self._page_left -= size
        self._document_left -= size
        if self._page_left < 0:
            return DocumentTooLarge(
                f"page {self._page} decodes to more than {_mib(self._limits.max_page_bytes)} of content streams, "
                "the limit for one page"
            )
        if self._document_left < 0:
            return DocumentTooLarge(
                f"the content streams decode to more than {_mib(self._document_bytes)} by page {self._page}, "
                f"the limit for this file ({self._limits.bytes_per_input_byte}x its size, at least "
                f"{_mib(self._limits.min_document_bytes)}, at most {_mib(self._limits.max_document_bytes)})"
            )
        return None

    def _check_time(self) -> None:
        if time.monotonic() > self._deadline:
            raise DocumentTooLarge(
                f"reading the text took more than {self._limits.max_seconds:g} s (stopped at page "
                f"{self._page} of {self._page_count:,}), the limit for one document"
            )


def _streams(contents: Any) -> list[StreamObject]:
    """The streams of a page's /Contents: one stream or an array of them (anything else is skipped)."""
    if contents is None:
        return []
    contents = contents.get_object()
    items = contents if isinstance(contents, ArrayObject) else [contents]
    return [s for s in (item.get_object() for item in items) if isinstance(s, StreamObject)]


def _dictionary(value: Any) -> DictionaryObject:
    value = value.get_object() if value is not None else None
    return value if isinstance(value, DictionaryObject) else DictionaryObject()


def _mib(size: int) -> str:
    return f"{size / MIB:g} MiB"
