"""Hostile PDFs through `load()`: decompression bombs, forms drawn over and over, too many pages, too slow."""

from __future__ import annotations

import io
import time
import tracemalloc
import zlib
from collections.abc import Callable

import pytest
from pypdf import PdfReader

from shipyard.errors import ConfigError
from shipyard.knowledge.errors import DocumentTooLarge
from shipyard.knowledge.loaders import load
from shipyard.knowledge.pdfs import MAX_PAGE_BYTES, MIB, PdfLimits, page_texts

from .test_loaders import make_pdf

KIB = 1024
# ~1 KB a line, few tokens: pypdf refuses a content stream of more than 2 million tokens.
LINE = b"BT /F1 12 Tf 72 712 Td (%s) Tj ET\n" % (b"All work and no play makes Jack a dull boy. " * 23)


def flate_lines(size: int) -> bytes:
    """`size` bytes of text operators, deflated (~1000:1), written 1 MiB at a time."""
    block = LINE * (min(size, MIB) // len(LINE))
    deflate = zlib.compressobj(9)
    parts = [deflate.compress(block) for _ in range(max(size // len(block), 1))]
    return b"".join([*parts, deflate.flush()])


class PdfBuilder:
    """A PDF from numbered objects; pages share one Helvetica font and may draw the forms given."""

    def __init__(self) -> None:
        self.objects: list[bytes] = [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ]
        self.pages: list[int] = []

    def add(self, body: bytes) -> int:
        self.objects.append(body)
        return len(self.objects)

    def stream(self, data: bytes, header: bytes = b"", *, flate: bool = True) -> int:
        filter_ = b" /Filter /FlateDecode" if flate else b""
        return self.add(b"<< /Length %d%s%s >>\nstream\n" % (len(data), filter_, header) + data + b"\nendstream")

    def form(self, data: bytes, forms: dict[str, int] | None = None, *, flate: bool = True) -> int:
        header = b" /Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources " + self.resources(forms)
        return self.stream(data, header, flate=flate)

    def resources(self, forms: dict[str, int] | None = None) -> bytes:
        xobjects = b"".join(b"/%s %d 0 R " % (name.encode(), number) for name, number in (forms or {}).items())
        return b"<< /Font << /F1 3 0 R >> /XObject << %s>> >>" % xobjects

    def page(self, *contents: int, forms: dict[str, int] | None = None) -> None:
        refs = b" ".join(b"%d 0 R" % number for number in contents)
        self.pages.append(
            self.add(
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents [%s] /Resources %s >>"
                % (refs, self.resources(forms))
            )
        )

    def build(self) -> bytes:
        kids = b" ".join(b"%d 0 R" % number for number in self.pages)
        self.objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(self.pages))
        out = io.BytesIO()
        out.write(b"%PDF-1.7\n")
        offsets = []
        for number, body in enumerate(self.objects, start=1):
            offsets.append(out.tell())
            out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
        xref = out.tell()
        out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(self.objects) + 1))
        out.write(b"".join(b"%010d 00000 n \n" % offset for offset in offsets))
        out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(self.objects) + 1, xref))
        return out.getvalue()


def bomb_pdf(pages: int, page_bytes: int) -> bytes:
    """`pages` pages, each its own content stream of `page_bytes` of text operators deflated ~1000:1."""
    pdf, content = PdfBuilder(), flate_lines(page_bytes)
    for _ in range(pages):
        pdf.page(pdf.stream(content))
    return pdf.build()


def text_pdf() -> bytes:
    """A well-formed PDF as generators write them: deflated content, a header drawn as a form, a nested form."""
    pdf = PdfBuilder()
    footer = pdf.form(zlib.compress(b"BT /F1 8 Tf 72 40 Td (Confidential: internal use) Tj ET"))
    header = pdf.form(zlib.compress(b"BT /F1 10 Tf 72 760 Td (Operations handbook) Tj ET /Ft Do"), {"Ft": footer})
    for number in range(1, 4):
        body = b"".join(
            b"BT /F1 12 Tf 72 %d Td (Page %d line %d about restarting workers.) Tj ET\n" % (700 - 14 * i, number, i)
            for i in range(40)
        )
        pdf.page(pdf.stream(zlib.compress(b"q /Hd Do Q\n" + body)), forms={"Hd": header})
    return pdf.build()


def test_a_bomb_fails_fast_in_little_memory() -> None:
    data = bomb_pdf(pages=4, page_bytes=24 * MIB)  # ~100 KB inflating to 96 MiB of text operators
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(DocumentTooLarge, match="bomb.pdf: page 1 decodes to more than 8 MiB") as failure:
            load(data, "bomb.pdf")
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (failure.value.code, failure.value.http_status) == ("document_too_large", 413)
    assert elapsed < 5, elapsed  # stopped while inflating page 1: no parsing at all
    assert peak < MAX_PAGE_BYTES + 16 * MIB, peak / MIB  # one page's budget, decoded once, then refused


def test_pages_that_each_fit_exhaust_the_document_budget() -> None:
    data = bomb_pdf(pages=4, page_bytes=100 * KIB)
    limits = PdfLimits(max_page_bytes=128 * KIB, min_document_bytes=256 * KIB, max_document_bytes=256 * KIB)
    with pytest.raises(DocumentTooLarge, match=r"more than 0.25 MiB by page 3, the limit for this file \(16x its size"):
        page_texts(PdfReader(io.BytesIO(data)), len(data), limits)
    assert limits.document_bytes(1 * KIB) == 256 * KIB and PdfLimits().document_bytes(2 * MIB) == 32 * MIB
    assert PdfLimits().document_bytes(100 * MIB) == 64 * MIB


@pytest.mark.parametrize("nested", [False, True], ids=["drawn-by-page", "drawn-by-a-form"])
def test_a_form_drawn_many_times_is_charged_each_time(nested: bool) -> None:
    """16 KiB drawn 2,000 times is 32 MiB to parse; refused before pypdf parses the form the 17th time."""
    pdf = PdfBuilder()
    form = pdf.form(flate_lines(16 * KIB))
    draws = zlib.compress(b"/Fm0 Do\n" * 2000)
    if nested:
        pdf.page(pdf.stream(b"/Outer Do", flate=False), forms={"Outer": pdf.form(draws, {"Fm0": form})})
    else:
        pdf.page(pdf.stream(draws), forms={"Fm0": form})
    data = pdf.build()
    started = time.monotonic()
    with pytest.raises(DocumentTooLarge, match="page 1 decodes to more than 0.25 MiB"):
        page_texts(PdfReader(io.BytesIO(data)), len(data), PdfLimits(max_page_bytes=256 * KIB))
    assert time.monotonic() - started < 2


def test_forms_a_page_does_not_draw_cost_nothing() -> None:
    """Generators may put every form in one resource dictionary shared by all pages."""
    pdf = PdfBuilder()
    unused = pdf.form(flate_lines(6 * MIB))
    for number in range(3):
        pdf.page(pdf.stream(b"BT /F1 12 Tf 72 712 Td (Page %d) Tj ET" % number, flate=False), forms={"Big": unused})
    (doc,) = load(pdf.build(), "shared.pdf")
    assert doc.text == "Page 0\n\nPage 1\n\nPage 2"


def test_too_many_pages_are_refused_before_reading_any() -> None:
    data = make_pdf(["one", "two", "three", "four"])
    with pytest.raises(DocumentTooLarge, match="the PDF has 4 pages; the limit for one document is 3"):
        page_texts(PdfReader(io.BytesIO(data)), len(data), PdfLimits(max_pages=3))


def test_time_is_limited_per_document() -> None:
    data = make_pdf(["one", "two"])
    with pytest.raises(DocumentTooLarge, match=r"took more than 1e-09 s \(stopped at page 1 of 2\)"):
        page_texts(PdfReader(io.BytesIO(data)), len(data), PdfLimits(max_seconds=1e-9))


@pytest.mark.parametrize("make", [lambda: make_pdf(["First page.", "Second page."]), text_pdf], ids=["plain", "forms"])
def test_normal_pdfs_give_the_same_text_as_pypdf_alone(make: Callable[[], bytes]) -> None:
    data = make()
    expected = [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]
    assert page_texts(PdfReader(io.BytesIO(data)), len(data)) == expected
    (doc,) = load(data, "handbook.pdf")
    assert doc.text == "\n\n".join(text.strip() for text in expected)


def test_text_pdf_draws_its_forms() -> None:
    (doc,) = load(text_pdf(), "handbook.pdf")
    assert "Operations handbook" in doc.text and "Confidential: internal use" in doc.text
    assert "Page 3 line 39 about restarting workers." in doc.text


def test_limits_are_checked_when_made() -> None:
    with pytest.raises(ConfigError, match="PdfLimits.max_pages must be > 0, got 0"):
        PdfLimits(max_pages=0)
    with pytest.raises(ConfigError, match="max_document_bytes must be >= min_document_bytes"):
        PdfLimits(min_document_bytes=2 * MIB, max_document_bytes=MIB)
