"""Token counts when a provider reports no usage (some OpenAI-compatible servers omit it in streams).

Counted with the WordPiece tokenizer packaged with the embedder — the only tokenizer available
offline (tiktoken downloads its vocabularies at run time). On English text it lands within ~15%
of GPT tokenizers' counts, so usage counted here is marked `estimated` on the trace.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from shipyard.knowledge.tokens import load_wordpiece
from shipyard.llm.types import Message

# OpenAI's accounting adds a few tokens per message for the role and separators.
TOKENS_PER_MESSAGE = 4


class TokenCounter:
    def __init__(self) -> None:
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def _loaded(self) -> Any:
        with self._lock:
            if self._tokenizer is None:
                self._tokenizer = load_wordpiece()
            return self._tokenizer

    def count(self, text: str) -> int:
        if not text:
            return 0
        return len(self._loaded().encode(text, add_special_tokens=False).ids)

    def count_messages(self, messages: Iterable[Message]) -> int:
        return sum(TOKENS_PER_MESSAGE + self.count(m.content) for m in messages)
