"""Structure-aware chunking: headings → sections → paragraphs → sentences → token windows.

A chunk never crosses a markdown heading, so it has one heading path to cite; inside a section,
whole paragraphs (fenced code blocks kept whole) are packed up to `max_tokens`, splitting only
what does not fit: a paragraph into sentences, a sentence into token windows. Consecutive chunks
of a section share up to `overlap_tokens` of trailing pieces. Every chunk is an exact slice
`source[start:end]`, so citations point at the very characters that were retrieved.

Input is text as loaders produce it: control characters other than tab and newline removed
(the tokenizer drops them, which would make token counts of a slice differ from the whole).
Lines end at "\n" (a preceding "\r" is trimmed like other whitespace).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass

from shipyard.errors import InvalidInput
from shipyard.knowledge.tokens import TokenOffsets

_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
# A sentence ends at . ! ? (optionally closed by quotes/brackets) followed by whitespace. A regex,
# not a trained splitter: it never needs a download, and a wrong cut only moves a chunk boundary.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+")


@dataclass(frozen=True)
class ChunkingConfig:
    """Per-collection chunking settings (token counts in the embedder's WordPiece tokens)."""

    # 200 leaves room for a heading-path prefix inside the embedder's 256-token window.
    max_tokens: int = 200
    overlap_tokens: int = 30

    def __post_init__(self) -> None:
        if not 16 <= self.max_tokens <= 2048:
            raise InvalidInput(f"max_tokens must be between 16 and 2048, got {self.max_tokens}")
        if not 0 <= self.overlap_tokens <= self.max_tokens // 2:
            raise InvalidInput(
                f"overlap_tokens must be between 0 and half of max_tokens ({self.max_tokens // 2}), "
                f"got {self.overlap_tokens}"
            )


@dataclass(frozen=True)
class Chunk:
    index: int
    text: str
    start: int
    end: int
    heading_path: tuple[str, ...]
    token_count: int


@dataclass(frozen=True)
class _Section:
    heading_path: tuple[str, ...]
    start: int
    end: int


class Chunker:
    def __init__(self, config: ChunkingConfig, tokens: TokenOffsets) -> None:
        self.config = config
        self._tokens = tokens

    def chunk(self, text: str, *, markdown: bool = True) -> list[Chunk]:
        """Chunks of `text` in order; markdown headings start new sections when `markdown`."""
        chunks: list[Chunk] = []
        for section in _sections(text) if markdown else [_Section((), 0, len(text))]:
            for start, end, _ in self._pack(text, section):
                for a, b, count in self._exact(text, start, end):
                    chunks.append(Chunk(len(chunks), text[a:b], a, b, section.heading_path, count))
        return chunks

    def _exact(self, text: str, start: int, end: int) -> list[tuple[int, int, int]]:
        """The chunk's token count from its own text, as the embedder will see it.

        Counting inside the whole section can differ at the edges for exotic characters the
        tokenizer normalises away; a chunk that is over the limit by its own count is cut again.
        """
        starts, word_starts = self._tokens.token_starts(text[start:end])
        if len(starts) <= self.config.max_tokens:
            return [(start, end, len(starts))]
        absolute = [start + offset for offset in starts]
        windows = _token_windows(text, (start, end), absolute, word_starts, self.config.max_tokens)
        return [(a, b, len(self._tokens.token_starts(text[a:b])[0])) for a, b in windows if a < b]

    def _pack(self, text: str, section: _Section) -> list[tuple[int, int, int]]:
        """(start, end, tokens) of each chunk of one section."""
        offsets, word_starts = self._tokens.token_starts(text[section.start : section.end])
        starts = [section.start + offset for offset in offsets]

        def count(a: int, b: int) -> int:
            return bisect_left(starts, b) - bisect_left(starts, a)

        pieces = [
            piece
            for unit in _units(text, section.start, section.end)
            for piece in self._fit(text, unit, count, starts, word_starts)
        ]
        limit, overlap = self.config.max_tokens, self.config.overlap_tokens
        chunks: list[tuple[int, int, int]] = []
        first = 0
        while first < len(pieces):
            current = last = first
            while last + 1 < len(pieces) and count(pieces[first][0], pieces[last + 1][1]) <= limit:
                last += 1
            start, end = pieces[first][0], pieces[last][1]
            chunks.append((start, end, count(start, end)))
            if last + 1 == len(pieces):
                break
            # The next chunk begins with this one's trailing pieces that fit the overlap budget
            # (and still leave room for the next piece); it always starts after this one did.
            following = pieces[last + 1][1]
            first = last + 1
            while (
                first - 1 > current
                and count(pieces[first - 1][0], end) <= overlap
                and count(pieces[first - 1][0], following) <= limit
            ):
                first -= 1
        return chunks

    def _fit(
        self,
        text: str,
        unit: tuple[int, int],
        count: Callable[[int, int], int],
        starts: list[int],
        word_starts: list[bool],
    ) -> list[tuple[int, int]]:
        """`unit` as pieces of at most max_tokens: itself, its sentences, or token windows."""
        limit = self.config.max_tokens
        if count(*unit) <= limit:
            return [unit]
        pieces: list[tuple[int, int]] = []
        for sentence in _sentences(text, *unit):
            if count(*sentence) <= limit:
                pieces.append(sentence)
                continue
            pieces += _token_windows(text, sentence, starts, word_starts, limit)
        return [p for p in pieces if p[0] < p[1]]


def _token_windows(
    text: str, span: tuple[int, int], starts: list[int], word_starts: list[bool], limit: int
) -> list[tuple[int, int]]:
    """Cut `span` into pieces of at most `limit` tokens, at word starts where a word allows it."""
    first, last = bisect_left(starts, span[0]), bisect_left(starts, span[1])
    pieces: list[tuple[int, int]] = []
    begin = first
    while begin < last:
        cut = min(begin + limit, last)
        if cut < last:
            safe = next((k for k in range(cut, begin, -1) if word_starts[k]), None)
            cut = safe if safe is not None else cut  # one word longer than the limit: cut inside it
        start = span[0] if begin == first else starts[begin]
        end = span[1] if cut == last else starts[cut]
        pieces.append(_trim(text, start, end))
        begin = cut
    return pieces


def _sections(text: str) -> list[_Section]:
    """Split at ATX headings (outside fenced code); each section starts at its heading line.

    A heading with no text under it before the next heading is not a section of its own: it
    opens the next section (no heading-only chunks), whose heading path is the deeper one.
    """
    sections: list[_Section] = []
    path: list[tuple[int, str]] = []
    section_start = body_start = 0
    section_path: tuple[str, ...] = ()
    fence: str | None = None
    offset = 0
    for line in _lines(text):
        stripped = line.rstrip("\r\n")
        fence = _fence_after(stripped, fence)
        heading = _HEADING.match(stripped) if fence is None else None
        if heading:
            has_body = bool(text[body_start:offset].strip())
            if has_body:
                sections.append(_Section(section_path, section_start, offset))
            level = len(heading.group(1))
            path = [(lvl, title) for lvl, title in path if lvl < level] + [(level, heading.group(2).strip())]
            if has_body or not text[section_start:offset].strip():
                section_start = offset
            section_path = tuple(title for _, title in path)
            body_start = offset + len(line)
        offset += len(line)
    if text[body_start:].strip():
        sections.append(_Section(section_path, section_start, len(text)))
    elif text[section_start:].strip():
        # Trailing headings without text: keep them (nothing in a document is dropped).
        sections.append(_Section(section_path, section_start, len(text)))
    return sections


def _units(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Paragraph spans between blank lines; a fenced code block stays one unit (one pass)."""
    units: list[tuple[int, int]] = []
    unit_start = start
    fence: str | None = None
    offset = start
    for line in _lines(text[start:end]):
        fence = _fence_after(line, fence)
        if fence is None and not line.strip():
            units.append(_trim(text, unit_start, offset))
            unit_start = offset + len(line)
        offset += len(line)
    units.append(_trim(text, unit_start, end))
    return [unit for unit in units if unit[0] < unit[1]]


def _fence_after(line: str, fence: str | None) -> str | None:
    """The code fence still open after `line` ("```" or "~~~"), or None outside code."""
    match = _FENCE.match(line)
    if match is None:
        return fence
    marker = match.group(1)
    if fence is None:
        return marker[0] * 3
    return None if marker.startswith(fence) else fence


def _lines(text: str) -> list[str]:
    """Lines with their "\n" (str.splitlines would also split at form feeds and other separators)."""
    lines = text.split("\n")
    return [line + "\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])


def _sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    cursor = start
    for match in _SENTENCE_END.finditer(text, start, end):
        spans.append(_trim(text, cursor, match.start()))
        cursor = match.end()
    spans.append(_trim(text, cursor, end))
    return [span for span in spans if span[0] < span[1]]


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
