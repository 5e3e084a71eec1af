"""Output schemas: one pydantic model per entity, the shape the API answers with and CLI `--json`
prints (a test holds them equal). A presentation layer: api and cli import it; it imports only
domain types, never an edge."""
