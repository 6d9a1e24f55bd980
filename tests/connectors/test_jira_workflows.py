"""Jira workflows of any shape (issue #12.7): the connector reaches the target status by a
chain of available transitions, re-reading them after each step, against the emulator's
company-managed workflow (To Do -> In Progress -> Done, no shortcut) and one with no way
into a done status at all. Real `jira` client, loopback emulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connectors.jira import JiraConfig, JiraConnector
from connectors.jira.connector import JiraRequestError, NoTransitionChain
from connectors.testing.conformance import created, draft, fast_sleep
from connectors.testing.emulation import Fault
from connectors.testing.jira import NO_DONE_WORKFLOW, STEPPED_WORKFLOW, JiraEmulator, Transition
from syncd.model import Status
from tests.connectors.test_jira import calls


def start(workflow: tuple[Transition, ...]) -> Iterator[JiraEmulator]:
    emulator = JiraEmulator(workflow=workflow)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def stepped() -> Iterator[JiraEmulator]:
    yield from start(STEPPED_WORKFLOW)


@pytest.fixture
def no_done() -> Iterator[JiraEmulator]:
    yield from start(NO_DONE_WORKFLOW)


def connect(emulator: JiraEmulator, **overrides: Any) -> JiraConnector:
    config = JiraConfig.model_validate(emulator.connector_section(**overrides))
    return JiraConnector("jira", config, sleep=fast_sleep)


def stored(emulator: JiraEmulator, key: str) -> tuple[str, str | None]:
    fields = emulator.issue(key)["fields"]
    return fields["status"], fields["resolution"]


def transition_names(emulator: JiraEmulator) -> list[str]:
    names = {t.id: t.name for t in emulator.workflow}
    return [
        names[str(r.json()["transition"]["id"])]
        for r in emulator.requests_to("POST", "/transitions")
    ]


def test_done_by_two_steps_then_the_cached_chain(stepped: JiraEmulator) -> None:
    connector = connect(stepped)
    first, second = created(connector.create_many([draft(1), draft(2)]))
    stepped.reset_log()

    assert connector.set_status(first.key, Status.DONE).status is Status.DONE
    assert stored(stepped, first.key) == ("Done", "Done")  # the screen's resolution was set
    assert calls(stepped) == [
        "GET issue",
        *["GET transitions", "POST transitions"],  # To Do: only Start Progress
        *["GET transitions", "POST transitions"],  # In Progress: Resolve
    ]

    stepped.reset_log()
    connector.set_status(second.key, Status.DONE)
    assert stored(stepped, second.key) == ("Done", "Done")
    assert calls(stepped) == ["GET issue", "POST transitions", "POST transitions"]  # cached


def test_drafts_created_closed_walk_the_chain(stepped: JiraEmulator) -> None:
    connector = connect(stepped)
    done, wont = created(
        connector.create_many([draft(1, status=Status.DONE), draft(2, status=Status.WONT_DO)])
    )
    assert (done.status, wont.status) == (Status.DONE, Status.WONT_DO)
    assert stored(stepped, done.key) == ("Done", "Done")
    assert stored(stepped, wont.key) == ("Won't Do", "Won't Do")
    again = connect(stepped).get_many([done.key, wont.key])
    assert (again[done.key].status, again[wont.key].status) == (Status.DONE, Status.WONT_DO)


@pytest.mark.parametrize(
    ("start_at", "target", "expected_steps"),
    [
        (Status.DONE, Status.OPEN, ["Reopen"]),
        (Status.DONE, Status.IN_PROGRESS, ["Reopen", "Start Progress"]),
        (Status.WONT_DO, Status.DONE, ["Reopen", "Start Progress", "Resolve"]),
        (Status.IN_PROGRESS, Status.OPEN, ["Stop Progress"]),
    ],
)
def test_any_status_to_any_status(
    stepped: JiraEmulator, start_at: Status, target: Status, expected_steps: list[str]
) -> None:
    connector = connect(stepped)
    (ticket,) = created(connector.create_many([draft(1)]))
    stepped.human_set_status(ticket.key, start_at)
    stepped.calls.clear()
    assert connector.set_status(ticket.key, target).status is target
    assert transition_names(stepped) == expected_steps
    assert connect(stepped).get_many([ticket.key])[ticket.key].status is target


def test_no_chain_names_the_status_and_the_transitions_seen(no_done: JiraEmulator) -> None:
    connector = connect(no_done)
    (ticket,) = created(connector.create_many([draft(1)]))
    with pytest.raises(NoTransitionChain) as caught:
        connector.set_status(ticket.key, Status.DONE)
    message = str(caught.value)
    assert not caught.value.retryable
    assert "from 'To Do' to done" in message
    assert "it is in 'In Progress'" in message
    assert "To Do: Start Progress -> In Progress" in message
    assert "In Progress: Stop Progress -> To Do" in message
    assert caught.value.reached is Status.IN_PROGRESS
    # Stable: the next push finds no way on from In Progress and moves nothing.
    no_done.calls.clear()
    with pytest.raises(NoTransitionChain, match="it is in 'In Progress'"):
        connector.set_status(ticket.key, Status.DONE)
    assert no_done.requests_to("POST", "/transitions") == []
    assert stored(no_done, ticket.key) == ("In Progress", None)


def test_done_transition_override_wins_over_the_first_done_transition(
    stepped: JiraEmulator,
) -> None:
    stepped.workflow = (
        *STEPPED_WORKFLOW,
        Transition("61", "Close as fixed", "Done", "Done", screen=False, sources=("In Progress",)),
    )
    connector = connect(stepped, done_transition="Close as fixed")
    (ticket,) = created(connector.create_many([draft(1)]))
    stepped.calls.clear()
    connector.set_status(ticket.key, Status.DONE)
    assert transition_names(stepped) == ["Start Progress", "Close as fixed"]


def is_transition(method: str, path: str) -> bool:
    return method == "POST" and path.endswith("/transitions")


def test_a_retried_step_the_first_try_applied_walks_on(stepped: JiraEmulator) -> None:
    """A 502 after Jira applied the step: the client retries the POST, Jira answers 400
    (the transition is not valid from where the issue now is). Found by the soak: the
    push failed and waited out a backoff although nothing was wrong."""
    (ticket,) = created(connect(stepped).create_many([draft(1)]))
    stepped.faults.add(Fault(502, match=is_transition, after_apply=True, body={"m": "x"}))
    connector = connect(stepped)  # nothing cached: the walk reads the transitions
    assert connector.set_status(ticket.key, Status.DONE).status is Status.DONE
    assert stored(stepped, ticket.key)[0] == "Done"
    assert [s for m, p, s in stepped.request_log if is_transition(m, p)] == [502, 400, 204]


def test_a_refused_step_that_did_not_move_the_issue_is_reported(stepped: JiraEmulator) -> None:
    (ticket,) = created(connect(stepped).create_many([draft(1)]))
    body = {"errorMessages": ["Field 'resolution' is required"], "errors": {}}
    stepped.faults.add(Fault(400, match=is_transition, body=body))
    with pytest.raises(JiraRequestError, match="resolution' is required") as raised:
        connect(stepped).set_status(ticket.key, Status.IN_PROGRESS)
    assert raised.value.status == 400
    assert stored(stepped, ticket.key)[0] == "To Do"
