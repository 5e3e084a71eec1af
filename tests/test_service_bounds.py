"""Bounds the API's schema shows are the services' own: a library or plugin caller meets them too
(each was checked by the API's schema alone before)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shipyard.errors import InvalidInput
from shipyard.names import check_name
from shipyard.platform import Platform


def _cases(services: Platform) -> list[tuple[Callable[[], object], str]]:
    project = services.access.get_project("default").id
    webhook = services.webhooks.create
    labels = services.predictions.add_labels
    tag = services.registry.set_tag
    return [
        (lambda: webhook(project, "https://hooks.example/" + "a" * 2000, ["*"]), "url is at most 2,000 characters"),
        (lambda: webhook(project, "https://hooks.example/", ["*"], "s" * 201), "secret is at most 200 characters"),
        (lambda: labels(project, "bikes", []), "give 1 to 10,000 labels per call, got 0"),
        (lambda: labels(project, "bikes", [("p", 1)] * 10_001), "give 1 to 10,000 labels per call, got 10,001"),
        (lambda: tag(project, "bikes", 1, "", "v", by="t"), "a tag needs a key"),
        (lambda: tag(project, "bikes", 1, "k" * 251, "v", by="t"), "tag key is at most 250 characters"),
        (lambda: tag(project, "bikes", 1, "k", "v" * 5001, by="t"), "tag value is at most 5,000 characters"),
    ]


@pytest.mark.parametrize(
    "case",
    range(7),
    ids=["webhook url", "webhook secret", "no labels", "too many labels", "blank tag key", "long tag key", "tag value"],
)
def test_a_library_caller_meets_the_bound_the_api_shows(services: Platform, case: int) -> None:
    call, reason = _cases(services)[case]
    with pytest.raises(InvalidInput, match=reason):
        call()


@pytest.mark.parametrize("name", ["acme\n", "acme\r\n", " acme", "Acme", "", "a" * 65])
def test_a_name_is_the_whole_string_or_refused(name: str) -> None:
    """`re.match` with `$` took "acme\\n" (a newline stored in a project's name)."""
    with pytest.raises(InvalidInput, match="invalid project name"):
        check_name("project", name)


def test_a_refused_name_is_not_echoed_whole() -> None:
    with pytest.raises(InvalidInput) as refused:
        check_name("project", "x" * 10_000_000)
    assert len(refused.value.message) < 300
