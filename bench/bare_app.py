"""The baseline for bench/api_overhead.py: the same endpoint in a bare FastAPI app."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/v1/me")
async def me() -> dict[str, object]:
    return {
        "key_id": "key_01M86HD5R8J32Q06XGHT1B3GRV",
        "key_name": "bench",
        "role": "admin",
        "project": {"id": "prj_default", "name": "default"},
    }
