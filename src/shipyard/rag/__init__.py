"""The RAG answer pipeline: retrieve, pack, render, generate (LLM or extractive), cite."""

from shipyard.rag.extractive import ExtractiveAnswerer
from shipyard.rag.passages import Passage, PromptTooLong
from shipyard.rag.service import EXTRACTIVE, NO_ANSWER, Answer, AskRequest, RagService, RagSettings
from shipyard.rag.spans import Span

__all__ = [
    "EXTRACTIVE",
    "NO_ANSWER",
    "Answer",
    "AskRequest",
    "ExtractiveAnswerer",
    "Passage",
    "PromptTooLong",
    "RagService",
    "RagSettings",
    "Span",
]
