"""The pure payload -> subject/extensions table, edge by edge (the example payloads are covered
end to end in test_replay)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from springhead_github.attributes import EventAttributes, subject_and_extensions

REPO = {"name": "Hello-World", "id": 7, "owner": {"login": "Codertocat"}}
SENDER = {"login": "octocat"}


@pytest.mark.parametrize(
    ("event", "payload", "subject", "extensions"),
    [
        pytest.param(
            "pull_request",
            {
                "action": "labeled",
                "number": 12,
                "pull_request": {"number": 12},
                "label": {"name": "bug"},
                "assignee": {"login": "hubot"},
                "installation": {"id": 99},
                "repository": REPO,
                "sender": SENDER,
            },
            "12",
            {
                "owner": "Codertocat",
                "repository": "Hello-World",
                "installation": "99",
                "sender": "octocat",
                "action": "labeled",
                "number": "12",
                "label": "bug",
                "assignee": "hubot",
            },
            id="pull_request: number, label, assignee, installation",
        ),
        pytest.param(
            "issues",
            {
                "action": "assigned",
                "issue": {"number": 3},
                "assignee": {"login": "hubot"},
                "label": None,
                "repository": REPO,
                "sender": SENDER,
            },
            "3",
            {
                "owner": "Codertocat",
                "repository": "Hello-World",
                "sender": "octocat",
                "action": "assigned",
                "assignee": "hubot",
            },
            id="issues: a null label is left out",
        ),
        pytest.param(
            "push",
            {
                "compare": "https://github.com/o/r/compare/abc...def",
                "ref": "refs/heads/main",
                "created": True,
                "deleted": False,
                "forced": True,
                "pusher": {"name": "me"},
                "repository": REPO,
                "sender": SENDER,
            },
            "abc...def",
            {
                "owner": "Codertocat",
                "repository": "Hello-World",
                "sender": "octocat",
                "pusher": "me",
                "ref": "refs/heads/main",
                "created": "true",
                "deleted": "false",
                "forced": "true",
            },
            id="push: last segment of compare, booleans as true/false",
        ),
        pytest.param(
            "push",
            {"compare": "no-slash-here", "repository": REPO},
            None,
            {"owner": "Codertocat", "repository": "Hello-World"},
            id="push: a compare without / gives no subject",
        ),
        pytest.param(
            "release",
            {
                "action": "published",
                "release": {"tag_name": "v1.2.3", "name": "One Two"},
                "repository": REPO,
                "sender": SENDER,
            },
            "v1.2.3",
            {
                "owner": "Codertocat",
                "repository": "Hello-World",
                "sender": "octocat",
                "action": "published",
                "release": "One Two",
            },
            id="release: tag as subject, name as extension",
        ),
        pytest.param(
            "status",
            {
                "sha": "abc123",
                "state": "pending",
                "name": "o/r",
                "context": "ci",
                "repository": REPO,
                "sender": SENDER,
            },
            "abc123",
            {
                "owner": "Codertocat",
                "repository": "Hello-World",
                "sender": "octocat",
                "state": "pending",
                "name": "o/r",
                "context": "ci",
            },
            id="status: sha",
        ),
        pytest.param(
            "ping",
            {"hook_id": 42, "organization": {"login": "octo-org"}, "sender": SENDER},
            "42",
            {"owner": "octo-org", "sender": "octocat"},
            id="ping of an organization hook: owner from the organization",
        ),
        pytest.param(
            "gollum",
            {
                "pages": [{"page_name": "Home"}, {"page_name": "Setup"}, "junk", {}],
                "repository": REPO,
            },
            "Home,Setup",
            {"owner": "Codertocat", "repository": "Hello-World"},
            id="gollum: page names joined",
        ),
        pytest.param(
            "issue_comment",
            {
                "action": "created",
                "comment": {"html_url": "https://github.com/o/r/issues/2#issuecomment-1"},
            },
            "2#issuecomment-1",
            {"action": "created"},
            id="issue_comment: last segment of the comment URL",
        ),
        pytest.param(
            "membership",
            {
                "action": "removed",
                "scope": "team",
                "member": {"id": 5},
                "organization": {"login": "octo-org"},
                "sender": SENDER,
            },
            "5",
            {"owner": "octo-org", "scope": "team", "sender": "octocat", "action": "removed"},
            id="membership: scope",
        ),
        pytest.param(
            "installation",
            {"action": "deleted", "installation": {"id": 2}, "sender": SENDER, "repository": REPO},
            "2",
            {"installation": "2", "sender": "octocat", "action": "deleted"},
            id="installation: no owner/repository, as Knative",
        ),
        pytest.param(
            "integration_installation",
            {"action": "created", "installation": {"id": 2}},
            "2",
            {"installation": "2", "action": "created"},
            id="the legacy integration_installation name maps like installation",
        ),
        pytest.param(
            "security_advisory",
            {"action": "published", "security_advisory": {"ghsa_id": "GHSA-x"}, "sender": SENDER},
            "GHSA-x",
            {"action": "published"},
            id="security_advisory: only action, as Knative",
        ),
        pytest.param(
            "workflow_run",
            {
                "action": "requested",
                "workflow_run": {"id": 77},
                "repository": REPO,
                "sender": SENDER,
            },
            "77",
            {
                "owner": "Codertocat",
                "repository": "Hello-World",
                "sender": "octocat",
                "action": "requested",
            },
            id="beyond Knative: workflow_run id",
        ),
        pytest.param(
            "brand_new_event",
            {"action": "happened", "repository": REPO, "sender": SENDER, "thing": {"id": 1}},
            None,
            {
                "owner": "Codertocat",
                "repository": "Hello-World",
                "sender": "octocat",
                "action": "happened",
            },
            id="an event nobody maps: common extensions, no subject",
        ),
        pytest.param(
            "pull_request",
            {
                "pull_request": {"number": "12"},
                "number": 12.0,
                "repository": {"owner": "x"},
                "sender": ["octocat"],
                "action": {"nested": True},
                "label": "bug",
            },
            "12",
            {"number": "12"},
            id="objects or arrays where a value belongs count as absent; numbers as text",
        ),
        pytest.param(
            "label",
            {"label": {"name": "\ud800broken"}, "sender": {"login": ""}},
            None,
            {},
            id="unsendable text (a lone surrogate) and empty strings are left out",
        ),
        pytest.param("push", {}, None, {}, id="an empty payload"),
    ],
)
def test_subject_and_extensions(
    event: str, payload: dict[str, Any], subject: str | None, extensions: dict[str, str]
) -> None:
    assert subject_and_extensions(event, payload) == (subject, extensions)


def test_extension_names_are_valid_cloudevents_names() -> None:
    every = {
        "action": "a",
        "number": 1,
        "label": {"name": "l"},
        "assignee": {"login": "a"},
        "installation": {"id": 1},
        "repository": REPO,
        "sender": SENDER,
        "ref": "r",
        "pusher": {"name": "p"},
        "created": True,
        "deleted": True,
        "forced": True,
        "release": {"name": "n"},
        "review": {"state": "s"},
        "state": "s",
        "name": "n",
        "context": "c",
        "scope": "s",
        "organization": {"login": "o"},
    }
    names: set[str] = set()
    for event in (
        "pull_request",
        "push",
        "release",
        "pull_request_review",
        "status",
        "membership",
        "issues",
        "installation",
        "create",
    ):
        names |= set(subject_and_extensions(event, every)[1])
    assert names
    assert all(name.isalnum() and name.islower() and len(name) <= 20 for name in names)


@pytest.mark.parametrize(
    "event", ["installation", "integration_installation", "integration_installation_repositories"]
)
def test_the_legacy_installation_names_map_as_installation_does(event: str) -> None:
    # GitHub's former names for the installation events (the replay payloads have the new ones)
    payload = {"action": "created", "installation": {"id": 5}, "sender": SENDER}
    assert subject_and_extensions(event, payload) == (
        "5",
        {"installation": "5", "sender": "octocat", "action": "created"},
    )


@pytest.mark.parametrize(("number", "text"), [(12, "12"), (2.0, "2"), (1.5, "1.5"), (True, "true")])
def test_numbers_are_rendered_as_json_wrote_them(number: object, text: str) -> None:
    payload = {"action": "opened", "number": number, "pull_request": {"number": number}}
    subject, extensions = subject_and_extensions("pull_request", payload)
    assert (subject, extensions["number"]) == (text, text)


def test_a_mapping_row_cannot_be_changed() -> None:
    row = EventAttributes(subject=None, extensions=())
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.subject = None  # type: ignore[misc]
