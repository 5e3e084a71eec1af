"""Logged predictions page by prediction id: next_cursor leads on, anything else is a 400."""

from __future__ import annotations

from shipyard.auth import Role
from shipyard.ids import new_id
from tests.conftest import LiveServer
from tests.models.conftest import BIKE_ROW
from tests.models.test_serving import _deploy


def test_prediction_cursors_page_on_and_malformed_ones_are_400(model_live: LiveServer) -> None:
    headers = model_live.key(Role.EDITOR)
    _deploy(model_live, headers)
    client = model_live.client
    for _ in range(3):
        assert client.post("/v1/models/bikes:predict", json={"instances": [BIKE_ROW]}, headers=headers).is_success
    listed = "/v1/deployments/bikes/predictions"
    first = client.get(listed, params={"limit": 2}, headers=headers).json()
    rest = client.get(listed, params={"limit": 2, "cursor": first["next_cursor"]}, headers=headers).json()
    assert len(first["data"]) == 2 and len(rest["data"]) == 1 and rest["next_cursor"] is None
    assert first["next_cursor"].startswith("prd_")
    for cursor in ("abc", "", first["next_cursor"][:-1], new_id("job")):
        response = client.get(listed, params={"cursor": cursor}, headers=headers)
        assert response.status_code == 400, (cursor, response.text)
        assert response.json()["error"]["code"] == "invalid_cursor"
