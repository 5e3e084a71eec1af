"""The answer to a question, as `POST /v1/ask` and `shipyard ask --json` return it."""

from __future__ import annotations

from pydantic import BaseModel, Field

from shipyard.rag import Answer, Passage


class CitationOut(BaseModel):
    index: int
    document_id: str
    chunk_id: str
    title: str | None
    source: str | None
    span: tuple[int, int]
    text: str


class AskUsage(BaseModel):
    input_tokens: int
    output_tokens: int
    total_tokens: int
    estimated: bool
    cost: float


class AskResponse(BaseModel):
    answer: str
    found: bool = Field(description="False when nothing relevant was retrieved (the answer says so).")
    citations: list[CitationOut]
    trace_id: str
    model: str
    provider_model: str | None
    prompt: str | None
    usage: AskUsage

    @classmethod
    def of(cls, answer: Answer) -> AskResponse:
        usage = answer.usage
        return cls(
            answer=answer.answer, found=answer.found, citations=[citation(p) for p in answer.citations],
            trace_id=answer.trace_id, model=answer.model, provider_model=answer.provider_model, prompt=answer.prompt,
            usage=AskUsage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                           total_tokens=usage.total_tokens, estimated=usage.estimated, cost=answer.cost),
        )  # fmt: skip


def citation(passage: Passage) -> CitationOut:
    return CitationOut(
        index=passage.index, document_id=passage.document_id, chunk_id=passage.chunk_id, title=passage.title,
        source=passage.source, span=passage.span, text=passage.text,
    )  # fmt: skip
