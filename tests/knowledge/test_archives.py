"""Hostile .docx files through `load()`: zip bombs, lying zip headers and entity bombs fail alone, in little memory."""

from __future__ import annotations

import base64
import io
import os
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from shipyard.knowledge.archives import MAX_MEMBERS, MAX_RATIO, MAX_UNPACKED_BYTES, MAX_XML_BYTES, MIB
from shipyard.knowledge.errors import DocumentTooLarge
from shipyard.knowledge.loaders import CorruptDocument, LoadedDocument, load

DOCUMENT_XML = "word/document.xml"
W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
PARAGRAPH = b"<w:p><w:r><w:t>All work and no play makes Jack a dull boy.</w:t></w:r></w:p>"
# The smallest PNG (1x1 pixel), for a document with an image.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
# Well under the 300 MiB the bombs below inflate to; refusing one takes about 1 MiB.
PEAK_LIMIT = 16 * MIB


def _blank_docx() -> bytes:
    from docx import Document

    out = io.BytesIO()
    Document().save(out)
    return out.getvalue()


def _docx_with(members: dict[str, Callable[[zipfile.ZipFile, str], None]]) -> bytes:
    """A real .docx whose members named in `members` are written by the given functions instead."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(_blank_docx())) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as docx:
        for info in source.infolist():
            if info.filename not in members:
                docx.writestr(info.filename, source.read(info))
        for name, write in members.items():
            write(docx, name)
    return out.getvalue()


def bomb_docx(inflated: int, *, declared: int | None = None, noise: int = 0) -> bytes:
    """A .docx whose document.xml is `inflated` bytes of paragraphs, deflated ~300:1 (300 MiB → ~1 MB).

    The XML is written in 1 MiB blocks, never held whole. `noise` bytes of random text per block
    lower the ratio (16 KiB: ~60:1). With `declared`, the central directory claims that size
    instead of the true one (a lying header).
    """

    def write(docx: zipfile.ZipFile, name: str) -> None:
        paragraphs = PARAGRAPH * ((MIB - noise) // len(PARAGRAPH))
        with docx.open(name, "w") as member:
            member.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<w:document xmlns:w="{W}"><w:body>'.encode())
            for _ in range(inflated // MIB):
                member.write(paragraphs)
                if noise:
                    member.write(b"<w:p><w:r><w:t>%s</w:t></w:r></w:p>" % base64.b64encode(os.urandom(noise * 3 // 4)))
            member.write(b"</w:body></w:document>")
        if declared is not None:
            docx.getinfo(name).file_size = declared

    return _docx_with({DOCUMENT_XML: write})


def _document_xml(
    body: str, doctype: str = "", method: int = zipfile.ZIP_DEFLATED
) -> Callable[[zipfile.ZipFile, str], None]:
    xml = f'<?xml version="1.0"?>{doctype}<w:document xmlns:w="{W}"><w:body>{body}</w:body></w:document>'
    return lambda docx, name: docx.writestr(name, xml, method)


def _load_measured(data: bytes, name: str) -> tuple[list[LoadedDocument] | Exception, int]:
    """What `load` returns or raises, and the peak of Python memory it allocated meanwhile."""
    tracemalloc.start()
    try:
        result: list[LoadedDocument] | Exception = load(data, name)
    except Exception as exc:  # noqa: BLE001 - the caller asserts on it
        result = exc
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return result, peak


def test_a_docx_bomb_is_refused_from_its_zip_directory() -> None:
    data = bomb_docx(300 * MIB)
    assert len(data) < 2 * MIB
    started = time.monotonic()
    failure, peak = _load_measured(data, "bomb.docx")
    assert isinstance(failure, DocumentTooLarge), failure
    assert failure.message.startswith(f"bomb.docx: member {DOCUMENT_XML} inflates ")
    assert f"over the limit of {MAX_RATIO}:1" in failure.message and "decompression bomb" in failure.message
    assert failure.code == "document_too_large"
    assert peak < PEAK_LIMIT and time.monotonic() - started < 5


def test_a_member_larger_than_declared_is_read_no_further() -> None:
    # Declares 1 KB, holds 300 MiB: the directory looks harmless, so only the bounded read stops it.
    failure, peak = _load_measured(bomb_docx(300 * MIB, declared=1000), "liar.docx")
    assert isinstance(failure, CorruptDocument), failure
    assert failure.message == f"liar.docx: cannot be read as docx (BadZipFile: Bad CRC-32 for file '{DOCUMENT_XML}')"
    assert peak < PEAK_LIMIT


def _many_members(count: int, size: int) -> bytes:
    """A .docx with `count` extra members of `size` zero bytes (~1000:1, but not over the ratio grace size)."""
    body = bytes(size)
    return _docx_with({f"word/media/blank{i}.bin": lambda docx, name: docx.writestr(name, body) for i in range(count)})


def _bzip2_docx() -> bytes:
    return _docx_with({DOCUMENT_XML: _document_xml("<w:p><w:r><w:t>Hello</w:t></w:r></w:p>", method=zipfile.ZIP_BZIP2)})


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: _many_members(MAX_MEMBERS, 0), DocumentTooLarge, f"more than {MAX_MEMBERS:,} members"),
        (lambda: _many_members(MAX_UNPACKED_BYTES // MIB, MIB), DocumentTooLarge,
         f"the archive unpacks to more than {MAX_UNPACKED_BYTES // MIB} MiB"),
        # ~60:1, under the ratio limit: a document.xml too large for the memory its tree would take.
        (lambda: bomb_docx(MAX_XML_BYTES + MIB, noise=16 * 1024), DocumentTooLarge,
         f"its XML unpacks to more than {MAX_XML_BYTES // MIB} MiB (at member {DOCUMENT_XML})"),
        (_bzip2_docx, CorruptDocument,
         f"member {DOCUMENT_XML} uses zip compression method 12; document packages use only stored or deflated"),
    ],
    ids=["members", "unpacked", "xml", "bzip2"],
)  # fmt: skip
def test_archive_limits(make: Callable[[], bytes], error: type[Exception], message: str) -> None:
    failure, peak = _load_measured(make(), "big.docx")
    assert isinstance(failure, error), failure
    assert str(failure).startswith("big.docx: ") and message in str(failure)
    assert peak < MAX_XML_BYTES + PEAK_LIMIT  # the XML limit is reached by copying that much


def test_entities_are_neither_expanded_nor_fetched(tmp_path: Path) -> None:
    # python-docx parses with resolve_entities=False; libxml2 (lxml 6) still checks entities and
    # stops an expansion past its amplification limit.
    laughs = '<!ENTITY l0 "lol">' + "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    bomb = _docx_with(
        {DOCUMENT_XML: _document_xml("<w:p><w:r><w:t>&l9;</w:t></w:r></w:p>", f"<!DOCTYPE w [{laughs}]>")}
    )
    started = time.monotonic()
    with pytest.raises(CorruptDocument, match=r"laughs.docx: cannot be read as docx \(XMLSyntaxError: .*entity"):
        load(bomb, "laughs.docx")
    assert time.monotonic() - started < 5
    secret = tmp_path / "secret.txt"
    secret.write_text("do not index me")
    xxe = _docx_with(
        {
            DOCUMENT_XML: _document_xml(
                "<w:p><w:r><w:t>before &x; after</w:t></w:r></w:p>",
                f'<!DOCTYPE w [<!ENTITY x SYSTEM "{secret.as_uri()}">]>',
            )
        }
    )
    (doc,) = load(xxe, "xxe.docx")
    assert "do not index me" not in doc.text and "before" in doc.text


def test_a_docx_with_an_image_keeps_its_text_and_headings() -> None:
    from docx import Document

    document = Document()
    document.add_heading("Site survey", level=1)
    document.add_paragraph("The mast stands on the north ridge.")
    document.add_picture(io.BytesIO(PIXEL))
    document.add_heading("Access", level=2)
    document.add_paragraph("The road is closed in winter.")
    out = io.BytesIO()
    document.save(out)
    (doc,) = load(out.getvalue(), "survey.docx")
    assert doc.text == (
        "# Site survey\n\nThe mast stands on the north ridge.\n\n## Access\n\nThe road is closed in winter."
    )
    assert doc.title == "Site survey"
