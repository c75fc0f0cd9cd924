"""springhead.eventfilter: Knative's Trigger filters, dialect by dialect, with Knative's
validation messages and three-valued answers (pkg/eventfilter, trigger_validation.go)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from springhead.eventfilter import (
    FilterSpecError,
    Verdict,
    attributes_filter,
    filters,
    trigger_filter,
)

EVENT: dict[str, object] = {
    "specversion": "1.0",
    "id": "42",
    "source": "/apis/v1/namespaces/default/pingsources/tick",
    "type": "dev.knative.sources.ping",
    "subject": "",
    "priority": 3,
    "urgent": True,
    "time": datetime.datetime(2026, 12, 3, 5, 0, tzinfo=datetime.UTC),
}

PASS, FAIL, NO_FILTER = Verdict.PASS, Verdict.FAIL, Verdict.NO_FILTER


@pytest.mark.parametrize(
    ("attributes", "verdict"),
    [
        (None, NO_FILTER),
        ({}, PASS),
        ({"type": "dev.knative.sources.ping"}, PASS),
        ({"type": "dev.knative.sources.ping", "id": "42"}, PASS),
        ({"type": "dev.knative.sources.ping", "id": "43"}, FAIL),  # AND
        ({"type": "Dev.knative.sources.ping"}, FAIL),  # case-sensitive
        ({"id": ""}, PASS),  # "": present and not empty
        ({"subject": ""}, FAIL),  # present but empty
        ({"dataschema": ""}, FAIL),  # absent
        ({"missing": "x"}, FAIL),
        ({"priority": "3", "urgent": "true"}, PASS),  # compared as text
        ({"time": "2026-12-03T05:00:00Z"}, PASS),
    ],
)
def test_filter_attributes(attributes: dict[str, str] | None, verdict: Verdict) -> None:
    assert attributes_filter(attributes)(EVENT) is verdict


@pytest.mark.parametrize(
    ("spec", "verdict"),
    [
        ([], NO_FILTER),
        ([{"exact": {"type": "dev.knative.sources.ping"}}], PASS),
        ([{"exact": {"type": "dev.knative.sources"}}], FAIL),
        ([{"exact": {"missing": "x"}}], FAIL),
        ([{"exact": {"priority": "3"}}], PASS),
        ([{"prefix": {"type": "dev.knative."}}], PASS),
        ([{"prefix": {"type": "DEV."}}], FAIL),
        ([{"prefix": {"missing": "x"}}], FAIL),
        ([{"suffix": {"source": "/tick"}}], PASS),
        ([{"suffix": {"source": "/tock"}}], FAIL),
        ([{"suffix": {"missing": "x"}}], FAIL),
        # the list is AND-ed
        ([{"prefix": {"type": "dev."}}, {"suffix": {"type": ".ping"}}], PASS),
        ([{"prefix": {"type": "dev."}}, {"suffix": {"type": ".pong"}}], FAIL),
        ([{"all": [{"exact": {"id": "42"}}, {"prefix": {"source": "/apis"}}]}], PASS),
        ([{"all": [{"exact": {"id": "42"}}, {"prefix": {"source": "/x"}}]}], FAIL),
        ([{"any": [{"exact": {"id": "1"}}, {"exact": {"id": "42"}}]}], PASS),
        ([{"any": [{"exact": {"id": "1"}}, {"exact": {"id": "2"}}]}], FAIL),
        ([{"not": {"exact": {"id": "42"}}}], FAIL),
        ([{"not": {"exact": {"id": "1"}}}], PASS),
        ([{"not": {"not": {"prefix": {"type": "dev."}}}}], PASS),
        ([{"cesql": "priority > 2 AND urgent"}], PASS),
        ([{"cesql": "priority > 3"}], FAIL),
        ([{"cesql": "missing = 'x' OR TRUE"}], FAIL),  # an error never passes
        ([{"cesql": "'true'"}], FAIL),  # not a Boolean
        (
            [
                {"any": [{"exact": {"type": "other"}}, {"cesql": "source LIKE '%/pingsources/%'"}]},
                {"not": {"suffix": {"id": "3"}}},
            ],
            PASS,
        ),
    ],
)
def test_filters(spec: list[dict[str, Any]], verdict: Verdict) -> None:
    assert filters(spec)(EVENT) is verdict


def test_no_filter_propagates_as_knative_has_it() -> None:
    # Knative drops an exact/prefix/suffix item with an empty name or value: nothing to decide.
    assert filters([{"exact": {"type": ""}}])(EVENT) is NO_FILTER
    assert filters([{"not": {"exact": {"type": ""}}}])(EVENT) is NO_FILTER
    # all/any answer as their last member did when nothing decided them early.
    dropped = {"exact": {"id": ""}}
    assert (
        filters([{"any": [{"exact": {"id": "1"}}, {"prefix": {"id": "5"}}, dropped]}])(EVENT)
        is FAIL
    )  # the dropped member is gone, so the last member is prefix
    assert filters([{"all": [{"exact": {"id": "42"}}, {"not": dropped}]}])(EVENT) is NO_FILTER


def test_filters_make_the_attributes_filter_ignored() -> None:
    both = {"filter": {"attributes": {"id": "1"}}, "filters": [{"exact": {"id": "42"}}]}
    assert trigger_filter(both)(EVENT) is PASS
    assert trigger_filter({"filter": {"attributes": {"id": "1"}}, "filters": []})(EVENT) is FAIL
    assert trigger_filter({"filter": {}})(EVENT) is NO_FILTER
    assert trigger_filter({})(EVENT) is NO_FILTER


@pytest.mark.parametrize(
    ("spec", "path", "reason"),
    [
        ([{"exact": {"Type": "x"}}], "filters[0].exact.Type", "must start with a letter"),
        ([{"prefix": {"1a": "x"}}], "filters[0].prefix.1a", "lowercase alphanumeric"),
        ([{"exact": {"type": 3}}], "filters[0].exact.type", "must be a string"),
        ([{"exact": ["type"]}], "filters[0].exact", "must be a map"),
        (
            [{"exact": {"type": "a"}, "prefix": {"type": "b"}}],
            "filters[0]",
            "multiple dialects found, filters can have only one dialect set",
        ),
        ([{}, {"regex": {"type": ".*"}}], "filters[1].regex", "is not a dialect"),
        ([{"regex": "x", "glob": "y"}], "filters[0].glob", "is not a dialect"),  # the first, sorted
        ([{"all": [{"cesql": "type ="}]}], "filters[0].all[0].cesql", "ends too soon"),
        ([{"any": "exact"}], "filters[0].any", "must be a list"),
        ([{"not": {"cesql": "1 2"}}], "filters[0].not.cesql", "at column 3"),
        ([{"cesql": 7}], "filters[0].cesql", "must be a string"),
        (["exact"], "filters[0]", "must be a map with one dialect"),
    ],
)
def test_what_knative_validation_refuses_names_its_field(
    spec: list[Any], path: str, reason: str
) -> None:
    with pytest.raises(FilterSpecError) as raised:
        filters(spec)
    assert raised.value.path == path
    assert reason in str(raised.value)
    assert str(raised.value).startswith(f"{path}: ")


def test_attribute_names_are_checked_in_the_attributes_filter_too() -> None:
    with pytest.raises(FilterSpecError, match=r"^filter\.attributes\.my-ext: "):
        trigger_filter({"filter": {"attributes": {"my-ext": "x"}}})
