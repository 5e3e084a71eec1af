"""Loaders on real files made by the tests: every format, odd encodings, corrupt and binary input."""

from __future__ import annotations

import io
import json

import pytest

from shipyard.knowledge.chunking import Chunker, ChunkingConfig
from shipyard.knowledge.loaders import CorruptDocument, UnsupportedDocument, load
from shipyard.knowledge.tokens import WordPieceTokens


def make_pdf(pages: list[str], title: str = "Field guide") -> bytes:
    """A minimal, valid PDF with one line of Helvetica text per page (xref offsets computed)."""
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(len(pages)))
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    font_id = 3 + 2 * len(pages)
    for i, text in enumerate(pages):
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {font_id} 0 R >> >> >>".encode()
        )
        stream = f"BT /F1 12 Tf 72 712 Td ({text}) Tj ET".encode()
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    objects.append(f"<< /Title ({title}) >>".encode())
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\n" % (len(objects) + 1, len(objects)))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


def make_docx() -> bytes:
    from docx import Document

    document = Document()
    document.core_properties.title = "Runbook"
    document.add_heading("Runbook", level=1)
    document.add_paragraph("Restart the worker when jobs pile up.")
    document.add_heading("Escalation", level=2)
    document.add_paragraph("Page the on-call engineer.")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "severity", "sev1"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_text_and_markdown() -> None:
    line = b"a line of ordinary text in a notes file"
    (doc,) = load(b"plain\r\ntext\x00 here\x07\n" + line * 3, "notes.txt")
    assert doc.text.startswith("plain\ntext here\n") and not doc.markdown  # stray controls removed
    (md,) = load("# Handbook\n\nCafe\u0301 rules.\n".encode(), "guide.md")
    assert md.markdown and md.title == "Handbook" and "Café" in md.text  # NFC


def test_legacy_encodings_and_utf16_are_decoded() -> None:
    (latin,) = load("Grüße aus Köln, straße und Ärger überall".encode("latin-1"), "de.txt")
    assert "Grüße" in latin.text and "Köln" in latin.text
    (utf16,) = load("naïve text".encode("utf-16"), "u.txt")
    assert utf16.text == "naïve text"


def test_html_keeps_main_text_and_headings_only() -> None:
    html = b"""<html><head><title>Guide page</title><script>var secret = 1;</script></head><body>
    <nav><a href="/">Home</a> | <a href="/docs">Docs</a></nav>
    <article><h1>Install guide</h1><p>First install the package with pip. It takes a minute.</p>
    <h2>Offline</h2><p>The model ships inside the wheel, so nothing is downloaded at run time.</p></article>
    <footer>Copyright 2026 Example Corp</footer></body></html>"""
    (doc,) = load(html, "page.html")
    assert doc.markdown and "## Offline" in doc.text and "ships inside the wheel" in doc.text
    assert "secret" not in doc.text and "Copyright" not in doc.text and "Home" not in doc.text
    chunks = Chunker(ChunkingConfig(), WordPieceTokens()).chunk(doc.text)
    assert ("Install guide", "Offline") in [c.heading_path for c in chunks]


def test_pdf_pages_and_title() -> None:
    (doc,) = load(make_pdf(["First page about retrieval.", "Second page about ranking."]), "guide.pdf")
    assert "First page about retrieval." in doc.text and "Second page about ranking." in doc.text
    assert doc.title == "Field guide"
    second = doc.metadata["page_offsets"][1]
    assert doc.text[second:].startswith("Second page")


def test_docx_headings_become_markdown() -> None:
    (doc,) = load(make_docx(), "runbook.docx")
    assert doc.markdown and doc.title == "Runbook"
    assert "# Runbook" in doc.text and "## Escalation" in doc.text and "severity | sev1" in doc.text


def test_tabular_formats_give_one_document_per_record() -> None:
    csv_docs = load(
        b"id,title,text,team\n1,Reset,How to reset a password,auth\n2,Keys,Rotate keys yearly,sec\n", "faq.csv"
    )
    assert [(d.external_id, d.title, d.text, d.metadata) for d in csv_docs] == [
        ("1", "Reset", "How to reset a password", {"team": "auth"}),
        ("2", "Keys", "Rotate keys yearly", {"team": "sec"}),
    ]
    json_docs = load(json.dumps({"documents": [{"id": 7, "body": "Seven", "year": 2026}]}).encode(), "d.json")
    assert json_docs[0].external_id == "7" and json_docs[0].text == "Seven" and json_docs[0].metadata == {"year": 2026}
    jsonl = load(b'{"content": "a"}\n\n{"content": "b", "lang": "en"}\n', "d.jsonl")
    assert [d.text for d in jsonl] == ["a", "b"] and jsonl[1].metadata == {"lang": "en"}
    picked = load(b'[{"question": "Why?", "answer": "Because."}]', "qa.json", text_field="answer")
    assert picked[0].text == "Because." and picked[0].metadata == {"question": "Why?"}


def test_records_without_a_text_field_name_the_fields_they_have() -> None:
    with pytest.raises(
        CorruptDocument, match=r"qa.json: item 0 has no text or content or body field; fields are: q, a"
    ):
        load(b'[{"q": "Why?", "a": "Because."}]', "qa.json")
    with pytest.raises(CorruptDocument, match="d.jsonl: line 2 is not JSON"):
        load(b'{"text": "ok"}\n{"text": broken}\n', "d.jsonl")


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (bytes(range(256)) * 8, "junk.txt", "binary data, not text"),
        (b"%PDF-1.4 this is not really a pdf", "broken.pdf", "cannot be read as pdf"),
        (b"PK\x03\x04 not a zip", "broken.docx", "cannot be read as docx"),
        (b"<html><head><script>var a = 1;</script></head><body></body></html>", "empty.html", "no readable"),
        (make_pdf([""]), "scan.pdf", "no text layer"),
    ],
)
def test_corrupt_files_are_reported_by_name(data: bytes, name: str, message: str) -> None:
    with pytest.raises(CorruptDocument, match=message) as failure:
        load(data, name)
    assert failure.value.message.startswith(f"{name}: ")


def test_unsupported_types_list_the_supported_ones() -> None:
    with pytest.raises(UnsupportedDocument, match=r"photo.png: unsupported file type .png; supported: .csv, .docx"):
        load(b"\x89PNG", "photo.png")
