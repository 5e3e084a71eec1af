"""Zip-based formats (.docx) opened under limits, so a decompression bomb fails as one bad file.

A zip's central directory declares every member's sizes, and a few hundred kilobytes of deflate
can hold a gigabyte. `unpacked_zip` checks the directory first and refuses an archive whose
declared sizes break the limits below. Then it inflates members in small reads: zipfile ends a
member at its declared size and checks its CRC there, so a member holding more than it declares
fails as corrupt after at most that size. What it returns is a new zip of stored (uncompressed)
members, which the format library opens without inflating anything:

- XML members (what python-docx parses) are copied, and together may hold `MAX_XML_BYTES`: a
  parsed tree takes up to ~20 times its XML, so this is the limit that bounds memory.
- Every other member (images, fonts, embedded files) becomes empty: only text is indexed, and
  python-docx would keep each one in memory. A part it does parse but that does not look like
  XML (UTF-8 or UTF-16, as Office Open XML requires) is thereby empty and fails to parse.

Why python-docx must not open the upload itself: it reads each part with `ZipFile.read()`, whose
one decompress call inflates the whole part before the declared size is applied, so neither an
honest nor a lying size would bound its memory.
"""

from __future__ import annotations

import io
import zipfile

from shipyard.knowledge.errors import DocumentTooLarge

MIB = 1024 * 1024
# What all members of one document may declare together. Only XML is kept in memory (see
# MAX_XML_BYTES); this bounds the rest of the work and refuses absurd archives from their directory
# alone. 4x the default SHIPYARD_MAX_FILE_BYTES, so a maximal upload of images (stored about 1:1)
# passes; a constant rather than a multiple of that setting, so raising it raises no memory bound.
MAX_UNPACKED_BYTES = 200 * MIB
# What the XML members may unpack to together. python-docx's trees take up to ~20x their XML
# (measured: 95 MB of one-word paragraphs peaked at 2 GB and 128 s), so this holds one .docx to
# about 700 MB and a minute at worst (measured: 31 MB → 661 MB, 63 s) per running ingest job,
# while a 3,000-page document (5-10 KB of XML a page) fits.
MAX_XML_BYTES = 32 * MIB
# Deflate tops out near 1032:1; Word's XML compresses 5-20:1 and images about 1:1. 100:1 is Apache
# POI's default for OOXML (ZipSecureFile MIN_INFLATE_RATIO = 0.01), so real Office files pass.
MAX_RATIO = 100
# Members up to this size skip the ratio check: a small, very regular part may compress better
# than 100:1 and cannot hurt (the sums above still count it).
RATIO_GRACE_BYTES = 1 * MIB
# A .docx has a few dozen members, a few hundred with many images. zipfile builds an object per
# member (~500 bytes) before anything can be checked, so this is counted before zipfile runs.
MAX_MEMBERS = 10_000
# Bytes inflated per read: zipfile's output per read is bounded by it (only read() without a size
# inflates a member in one go).
_READ_BYTES = 64 * 1024
# Office Open XML packages (ECMA-376 Part 2) use only these. zipfile inflates bzip2 and lzma
# members without any bound per read, so other methods are refused before reading.
_PACKAGE_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
# Every central directory entry starts with this signature (zipfile refuses one that does not), so
# its count in the file is at least the number of members zipfile would build.
_MEMBER_SIGNATURE = b"PK\x01\x02"


def unpacked_zip(data: bytes) -> io.BytesIO:
    """The zip `data` with its XML members stored uncompressed and the others empty, under the limits.

    Raises `DocumentTooLarge` for an archive past a limit (naming it), and `zipfile.BadZipFile`
    for one that is not a well-formed package (a member larger than declared among them).
    """
    if data.count(_MEMBER_SIGNATURE) > MAX_MEMBERS:
        raise DocumentTooLarge(f"the archive has more than {MAX_MEMBERS:,} members, the limit for one document")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        _check_directory(members)
        unpacked = io.BytesIO()
        xml_bytes = 0
        with zipfile.ZipFile(unpacked, "w", zipfile.ZIP_STORED) as target:
            for info in members:
                xml_bytes += _copy(archive, info, target, MAX_XML_BYTES - xml_bytes)
    unpacked.seek(0)
    return unpacked


def _check_directory(members: list[zipfile.ZipInfo]) -> None:
    """Refuse, from the declared sizes alone, what would unpack past the limits."""
    names: set[str] = set()
    total = 0
    for info in members:
        if info.compress_type not in _PACKAGE_METHODS:
            raise zipfile.BadZipFile(
                f"member {info.filename} uses zip compression method {info.compress_type}; "
                f"document packages use only {' or '.join(_PACKAGE_METHODS.values())}"
            )
        if info.filename in names:
            raise zipfile.BadZipFile(f"member {info.filename} appears twice")
        names.add(info.filename)
        ratio = info.file_size / max(1, info.compress_size)
        if info.file_size > RATIO_GRACE_BYTES and ratio > MAX_RATIO:
            raise DocumentTooLarge(
                f"member {info.filename} inflates {ratio:,.0f}:1 ({info.file_size:,} bytes from "
                f"{info.compress_size:,}), over the limit of {MAX_RATIO}:1 for members over "
                f"{RATIO_GRACE_BYTES // MIB} MiB; such files are refused as likely decompression bombs"
            )
        total += info.file_size
        if total > MAX_UNPACKED_BYTES:
            raise DocumentTooLarge(
                f"the archive unpacks to more than {MAX_UNPACKED_BYTES // MIB} MiB, the limit for one document"
            )


def _copy(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: zipfile.ZipFile, budget: int) -> int:
    """Copy one member if it is XML (at most `budget` bytes), else store it empty; the bytes copied."""
    copied = 0
    with archive.open(info) as member, target.open(info.filename, "w") as out:
        chunk = member.read(_READ_BYTES)
        if not _looks_like_xml(chunk):
            return 0
        while chunk:
            copied += len(chunk)
            # zipfile itself stops at the declared size (then fails the CRC check); this keeps
            # the bound ours whatever zipfile version runs.
            if copied > info.file_size:
                raise zipfile.BadZipFile(
                    f"member {info.filename} holds more than the {info.file_size:,} bytes it declares"
                )
            if copied > budget:
                raise DocumentTooLarge(
                    f"its XML unpacks to more than {MAX_XML_BYTES // MIB} MiB (at member {info.filename}), the limit "
                    "for one document's text; split the document"
                )
            out.write(chunk)
            chunk = member.read(_READ_BYTES)
    return copied


def _looks_like_xml(head: bytes) -> bool:
    """Whether a member's first bytes can start an XML document in UTF-8 or UTF-16."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"<\x00", b"\x00<")):
        return True
    return head.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n").startswith(b"<")
