"""What the load scenarios run against: a small handbook collection and the bikes deployment,
made through the API as a user would."""

from __future__ import annotations

import httpx

from tests.conftest import wait_until

HANDBOOK = [
    {"id": "rollback", "text": "# Rolling back\n\nA deployment is rolled back with shipyard deploy rollback."},
    {"id": "keys", "text": "# Keys\n\nRotate keys every 90 days with shipyard keys create."},
]


def prepare(client: httpx.Client, headers: dict[str, str] | None = None) -> None:
    """The `handbook` collection (ingested) and the `bikes` deployment of bike-demand v1."""
    headers = headers or {}
    assert client.post("/v1/collections", json={"name": "handbook"}, headers=headers).status_code == 201
    job = client.post("/v1/collections/handbook/documents", json={"documents": HANDBOOK}, headers=headers).json()
    wait_until(lambda: client.get(f"/v1/jobs/{job['id']}", headers=headers).json()["status"] == "succeeded", 60)
    client.put("/v1/registry/models/bike-demand/aliases/champion", json={"version": 1}, headers=headers)
    client.post("/v1/registry/models/bike-demand/versions/1/approve", json={}, headers=headers)
    created = client.post("/v1/deployments", json={"name": "bikes", "model": "bike-demand"}, headers=headers)
    assert created.status_code == 201, created.text
