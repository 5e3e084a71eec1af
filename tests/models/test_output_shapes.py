"""One output schema per entity, model side: registry versions, deployments and monitors print
through CLI `--json` as the API answers them (tests/test_output_shapes.py has the rest)."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from shipyard.auth import Role
from tests.conftest import LiveServer
from tests.models.test_cli import cli, run  # noqa: F401 - the `cli` fixture
from tests.models.test_monitors import hours, rows, send  # noqa: F401 - the `hours` fixture
from tests.test_output_shapes import shape


def test_every_model_entity_prints_as_the_api_answers(
    model_live: LiveServer,
    cli: CliRunner,  # noqa: F811
    hours: pd.DataFrame,  # noqa: F811
) -> None:
    headers = model_live.key(Role.ADMIN, rate_limit_per_minute=1_000_000)

    def api(method: str, path: str, status: int = 200, **kwargs: object) -> object:
        response = model_live.client.request(method, path, headers=headers, **kwargs)  # type: ignore[arg-type]
        assert response.status_code == status, f"{method} {path}: {response.text}"
        return response.json()

    pairs = {
        "model version (approved)": (
            run(cli, "models", "approve", "bike-demand", "1", "--reason", "ok"),
            api("POST", "/v1/registry/models/bike-demand/versions/2/approve", json={}),
        ),
        "model version (alias moved)": (
            run(cli, "models", "alias", "bike-demand", "1", "champion"),
            api("PUT", "/v1/registry/models/bike-demand/aliases/challenger", json={"version": 2}),
        ),
        "model versions": (
            run(cli, "models", "versions", "bike-demand"),
            api("GET", "/v1/registry/models/bike-demand/versions"),
        ),
        "models": (run(cli, "models", "list"), api("GET", "/v1/registry/models")),
        "deployment (created)": (
            run(cli, "deploy", "create", "bikes", "--model", "bike-demand"),
            api("POST", "/v1/deployments", 201, json={"name": "bikes-b", "model": "bike-demand"}),
        ),
    }
    pairs["deployment"] = (run(cli, "deploy", "show", "bikes"), api("GET", "/v1/deployments/bikes"))
    pairs["deployments"] = (run(cli, "deploy", "list"), api("GET", "/v1/deployments"))

    send(model_live, headers, rows(hours, "2011-01-01", "2011-05-01", 100))
    pairs["monitor (created)"] = (
        run(cli, "monitors", "create", "watch", "--deployment", "bikes"),
        api("POST", "/v1/monitors", 201, json={"name": "watch-b", "deployment": "bikes"}),
    )
    pairs["monitor result"] = (run(cli, "monitors", "run", "watch"), api("POST", "/v1/monitors/watch-b/run"))
    pairs["monitor"] = (run(cli, "monitors", "show", "watch"), api("GET", "/v1/monitors/watch"))
    pairs["monitors"] = (run(cli, "monitors", "list"), api("GET", "/v1/monitors"))
    pairs["monitor results"] = (
        run(cli, "monitors", "results", "watch"),
        api("GET", "/v1/monitors/watch/results")["data"],  # type: ignore[index]
    )

    different = [
        f"{entity}: CLI {shape(printed)} != API {shape(answered)}"
        for entity, (printed, answered) in pairs.items()
        if shape(printed) != shape(answered)
    ]
    assert not different, "\n".join(different)
    assert all(printed not in (None, [], {}) for printed, _ in pairs.values())
