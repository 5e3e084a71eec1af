"""Token counting for chunk sizes, with the embedder's own WordPiece tokenizer."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

# The embedder packaged with shipyard (model, tokenizer, manifest): its tokenizer counts tokens.
PACKAGED_MODEL = Path(__file__).resolve().parent / "models" / "all-minilm-l6-v2"


class TokenOffsets(Protocol):
    def token_starts(self, text: str) -> tuple[list[int], list[bool]]:
        """Where each token starts in `text` (no special tokens), and whether it starts a word.

        A word start is a safe place to cut: the text after it tokenizes the same way alone,
        while cutting before a `##` continuation piece would change the tokens.
        """
        ...


def load_wordpiece(model_dir: Path = PACKAGED_MODEL) -> Any:
    """The packaged model's tokenizer, with the fixed truncation and padding of its tokenizer.json
    turned off: counting and cutting need every token of a text."""
    from tokenizers import Tokenizer

    tokenizer: Any = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


class WordPieceTokens:
    """Counts tokens the way the packaged embedder sees them, so a chunk's size is what gets embedded."""

    def __init__(self, model_dir: Path = PACKAGED_MODEL) -> None:
        self._tokenizer = load_wordpiece(model_dir)

    def token_starts(self, text: str) -> tuple[list[int], list[bool]]:
        encoding = self._tokenizer.encode(text, add_special_tokens=False)
        words = encoding.word_ids
        starts = [start for start, _ in encoding.offsets]
        return starts, [i == 0 or words[i] != words[i - 1] for i in range(len(starts))]
