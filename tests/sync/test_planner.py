"""Unit tests for the pure reconcile planner (`syncd.sync.planner.plan_item`).

The module docstring of `syncd.sync.planner` states the field-ownership rules; every cell
of that table is exercised here:

- the document owns title (action text), assignee (owner), due and priority;
- the tracker owns status (but a status changed only in the doc is pushed);
- when both sides changed a field since the last sync, `winner` decides and the
  conflict is recorded.
"""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.base import FieldChanges, Ticket, TicketDraft
from syncd.model import Status
from syncd.sync.identity import ItemId
from syncd.sync.planner import (
    Base,
    Create,
    DocSide,
    ItemPlan,
    Note,
    Outcome,
    OutcomeKind,
    PlanInput,
    RecordConflict,
    SetStatus,
    UpdateFields,
    WriteStatus,
    WriteTicket,
    next_base,
    plan_item,
    retry_delay,
    settled,
    starting_base,
    stored_base,
    ticket_from_snapshot,
    ticket_snapshot,
)

ITEM = "pm-2024-05-01#1"
TRACKER = "jira"
DOC_PATH = "postmortems/2024-05-01-queue-outage.md"
KEY = "OPS-1"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
T1 = datetime(2024, 5, 2, 12, 0, tzinfo=UTC)

# doc owner name -> tracker identity (the [owners] table); "zed" is deliberately unmapped.
OWNERS = {"alice": "acc-alice", "bob": "acc-bob", "carol": "acc-carol"}
UNMAPPED = "zed"


# -- factories ---------------------------------------------------------------------


def make_doc(
    *,
    action: str = "Alert on queue depth",
    owner: str | None = "alice",
    due: date | None = date(2024, 6, 1),
    priority: str | None = "P2",
    status: Status = Status.OPEN,
) -> DocSide:
    return DocSide(action=action, owner=owner, due=due, priority=priority, status=status)


def make_ticket(
    *,
    key: str = KEY,
    title: str = "Alert on queue depth",
    assignee: str | None = "acc-alice",
    due: date | None = date(2024, 6, 1),
    priority: str | None = "P2",
    status: Status = Status.OPEN,
    updated: datetime = T0,
) -> Ticket:
    return Ticket(
        key=key,
        url=f"https://jira.example.com/browse/{key}",
        title=title,
        assignee=assignee,
        due=due,
        priority=priority,
        status=status,
        labels=("postmortem-action",),
        updated=updated,
        marker=ITEM,
    )


def draft_for(doc: DocSide, assignee: str | None) -> TicketDraft:
    return TicketDraft(
        marker=ITEM,
        title=doc.action,
        description=f"From {DOC_PATH}",
        assignee=assignee,
        due=doc.due,
        priority=doc.priority,
        status=doc.status,
        labels=("postmortem-action",),
    )


_AUTO: Any = object()


def make_input(
    doc: DocSide,
    ticket: Ticket | None,
    *,
    base: tuple[DocSide, Ticket] | None = None,
    doc_ticket: str | None = _AUTO,
    assignee: str | None = _AUTO,
    draft: TicketDraft | None = _AUTO,
    managed: bool = True,
) -> PlanInput:
    """A PlanInput; by default the doc already names the ticket and the owner is mapped
    through OWNERS. `base` is the (doc, ticket) pair as of the last sync."""
    if assignee is _AUTO:
        assignee = OWNERS.get(doc.owner) if doc.owner else None
    if doc_ticket is _AUTO:
        doc_ticket = ticket.key if ticket is not None else None
    if draft is _AUTO:
        draft = draft_for(doc, assignee) if ticket is None else None
    return PlanInput(
        item_id=ITEM,
        tracker=TRACKER,
        doc_path=DOC_PATH,
        doc=doc,
        doc_ticket=doc_ticket,
        assignee=assignee,
        draft=draft,
        base_doc=base[0].snapshot() if base else None,
        base_ticket=ticket_snapshot(base[1]) if base else None,
        ticket=ticket,
        managed=managed,
    )


def update(**changes: Any) -> UpdateFields:
    return UpdateFields(ITEM, TRACKER, KEY, FieldChanges(**changes))


def write_status(status: Status) -> WriteStatus:
    return WriteStatus(ITEM, DOC_PATH, status)


def set_status(status: Status) -> SetStatus:
    return SetStatus(ITEM, TRACKER, KEY, status)


def conflict(name: str, doc_value: Any, ticket_value: Any, winner: str) -> RecordConflict:
    return RecordConflict(ITEM, name, doc_value, ticket_value, winner)  # type: ignore[arg-type]


def notes(plan: ItemPlan) -> list[str]:
    return [a.kind for a in plan.actions if isinstance(a, Note)]


def without_notes(plan: ItemPlan) -> tuple[Any, ...]:
    return tuple(a for a in plan.actions if not isinstance(a, Note))


# -- no ticket yet -------------------------------------------------------------------


@pytest.mark.parametrize("status", [Status.OPEN, Status.IN_PROGRESS])
def test_open_item_without_ticket_creates_exactly_once(status: Status) -> None:
    doc = make_doc(status=status)
    inp = make_input(doc, None)
    assert inp.draft is not None
    assert plan_item(inp).actions == (Create(ITEM, TRACKER, inp.draft),)


@pytest.mark.parametrize("status", [Status.DONE, Status.WONT_DO])
def test_closed_item_without_ticket_is_not_created(status: Status) -> None:
    plan = plan_item(make_input(make_doc(status=status), None))
    assert not any(isinstance(a, Create) for a in plan.actions)
    assert plan.writes == ()
    assert notes(plan) == ["closed-without-ticket"]


def test_unmapped_owner_is_noted_and_item_still_created() -> None:
    doc = make_doc(owner=UNMAPPED)
    inp = make_input(doc, None)
    assert inp.assignee is None
    plan = plan_item(inp)
    assert notes(plan) == ["unmapped-owner"]
    assert without_notes(plan) == (Create(ITEM, TRACKER, inp.draft),)  # type: ignore[arg-type]
    (note,) = (a for a in plan.actions if isinstance(a, Note))
    assert UNMAPPED in note.message


def test_no_owner_is_not_an_unmapped_owner() -> None:
    plan = plan_item(make_input(make_doc(owner=None), None))
    assert notes(plan) == []


# -- the Ticket cell -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc_ticket", "expected"),
    [
        pytest.param(None, (WriteTicket(ITEM, DOC_PATH, KEY),), id="doc-lacks-key"),
        pytest.param(KEY, (), id="doc-has-key"),
    ],
)
@pytest.mark.parametrize("first_sync", [True, False], ids=["first-sync", "with-base"])
def test_ticket_key_written_into_doc_only_when_missing(
    doc_ticket: str | None, expected: tuple[Any, ...], first_sync: bool
) -> None:
    doc, ticket = make_doc(), make_ticket()
    inp = make_input(doc, ticket, doc_ticket=doc_ticket, base=None if first_sync else (doc, ticket))
    assert plan_item(inp).actions == expected


# -- first sync (no base) ------------------------------------------------------------


def test_first_sync_in_agreement_does_nothing() -> None:
    assert plan_item(make_input(make_doc(), make_ticket())).actions == ()


def test_first_sync_pushes_all_differing_doc_fields_in_one_update() -> None:
    doc = make_doc(action="New words", owner="bob", due=date(2024, 7, 1), priority="P1")
    ticket = make_ticket(title="Old words", assignee="acc-alice", due=None, priority="P3")
    plan = plan_item(make_input(doc, ticket))
    assert plan.actions == (
        update(title="New words", assignee="acc-bob", due=date(2024, 7, 1), priority="P1"),
    )


FIRST_SYNC_FIELDS = [
    pytest.param({"action": "New words"}, {"title": "New words"}, id="title"),
    pytest.param({"owner": "bob"}, {"assignee": "acc-bob"}, id="assignee"),
    pytest.param({"owner": None}, {"assignee": None}, id="assignee-removed"),
    pytest.param({"due": date(2024, 9, 30)}, {"due": date(2024, 9, 30)}, id="due"),
    pytest.param({"due": None}, {"due": None}, id="due-removed"),
    pytest.param({"priority": "P0"}, {"priority": "P0"}, id="priority"),
]


@pytest.mark.parametrize(("doc_changes", "pushed"), FIRST_SYNC_FIELDS)
def test_first_sync_pushes_only_the_differing_field(
    doc_changes: dict[str, Any], pushed: dict[str, Any]
) -> None:
    plan = plan_item(make_input(make_doc(**doc_changes), make_ticket()))
    assert plan.actions == (update(**pushed),)


def test_first_sync_status_takes_the_trackers_value() -> None:
    doc = make_doc(action="New words", status=Status.OPEN)
    ticket = make_ticket(title="Old words", status=Status.DONE)
    plan = plan_item(make_input(doc, ticket), winner="doc")
    assert plan.actions == (update(title="New words"), write_status(Status.DONE))


@pytest.mark.parametrize(
    ("doc_status", "ticket_status"),
    list(itertools.product(Status, Status)),
    ids=[f"doc={d.value}-ticket={t.value}" for d, t in itertools.product(Status, Status)],
)
@pytest.mark.parametrize("winner", ["tracker", "doc"])
def test_first_sync_status_matrix(doc_status: Status, ticket_status: Status, winner: str) -> None:
    plan = plan_item(
        make_input(make_doc(status=doc_status), make_ticket(status=ticket_status)), winner=winner
    )  # type: ignore[arg-type]
    if doc_status == ticket_status:
        expected: tuple = ()
    elif ticket_status is Status.OPEN:  # never moved in the tracker: the doc's wish goes out
        expected = (set_status(doc_status),)
    else:  # otherwise the tracker owns status
        expected = (write_status(ticket_status),)
    assert plan.actions == expected


@pytest.mark.parametrize("base_side", ["doc", "ticket"])
def test_half_a_base_counts_as_first_sync(base_side: str) -> None:
    doc = make_doc(action="Doc words", status=Status.OPEN)
    ticket = make_ticket(title="Tracker words", status=Status.DONE)
    inp = make_input(doc, ticket, base=(doc, ticket))
    inp = dataclasses.replace(inp, **{f"base_{base_side}": None})
    assert plan_item(inp).actions == (update(title="Doc words"), write_status(Status.DONE))


# -- doc-owned fields with a base -------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FieldCase:
    """One doc-owned field: where it lives on each side and the values used.

    `*_doc` values are what the document says (an owner name for the assignee),
    `*_ticket` values are the tracker's (an identity). `doc_new_pushed` is the ticket
    form of `doc_new`, i.e. what the planner pushes.
    """

    doc_attr: str
    ticket_attr: str
    base_doc: Any
    base_ticket: Any
    doc_new: Any
    doc_new_pushed: Any
    ticket_new: Any


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


FIELD_CASES = {
    "title": FieldCase(
        "action",
        "title",
        "Alert on queue depth",
        "Alert on queue depth",
        "Alert on queue depth > 1k",
        "Alert on queue depth > 1k",
        "Queue depth alerting",
    ),
    "assignee": FieldCase("owner", "assignee", "alice", "acc-alice", "bob", "acc-bob", "acc-carol"),
    "due": FieldCase(
        "due",
        "due",
        date(2024, 6, 1),
        date(2024, 6, 1),
        date(2024, 7, 1),
        date(2024, 7, 1),
        date(2024, 8, 15),
    ),
    "priority": FieldCase("priority", "priority", "P2", "P2", "P1", "P1", "P3"),
}


def field_scenario(
    name: str,
    *,
    doc_changed: bool,
    ticket_changed: bool,
    same_value: bool = False,
    managed: bool = True,
) -> PlanInput:
    """Base: doc and ticket agree on every field. Then change `name` on either side.

    same_value: the ticket is changed to exactly what the doc was changed to.
    """
    case = FIELD_CASES[name]
    base_doc = make_doc(**{case.doc_attr: case.base_doc})
    base_ticket = make_ticket(**{case.ticket_attr: case.base_ticket})
    doc = base_doc
    ticket = base_ticket
    if doc_changed:
        doc = dataclasses.replace(doc, **{case.doc_attr: case.doc_new})
    if ticket_changed:
        new = case.doc_new_pushed if same_value else case.ticket_new
        ticket = dataclasses.replace(ticket, **{case.ticket_attr: new}, updated=T1)
    return make_input(doc, ticket, base=(base_doc, base_ticket), managed=managed)


# (doc changed, ticket changed, same value, winner) -> (pushed?, conflict winner or None)
FIELD_CELLS = [
    pytest.param(True, False, False, "tracker", True, None, id="doc-only"),
    pytest.param(True, False, False, "doc", True, None, id="doc-only-doc-wins"),
    pytest.param(False, True, False, "tracker", False, None, id="tracker-only"),
    pytest.param(False, True, False, "doc", False, None, id="tracker-only-doc-wins"),
    pytest.param(True, True, False, "doc", True, "doc", id="both-doc-wins"),
    pytest.param(True, True, False, "tracker", False, "tracker", id="both-tracker-wins"),
    pytest.param(True, True, True, "doc", False, None, id="both-same-value-doc-wins"),
    pytest.param(True, True, True, "tracker", False, None, id="both-same-value-tracker-wins"),
    pytest.param(False, False, False, "doc", False, None, id="neither-doc-wins"),
    pytest.param(False, False, False, "tracker", False, None, id="neither-tracker-wins"),
]


@pytest.mark.parametrize("name", list(FIELD_CASES))
@pytest.mark.parametrize(
    ("doc_changed", "ticket_changed", "same_value", "winner", "pushed", "conflict_winner"),
    FIELD_CELLS,
)
def test_doc_owned_field_with_base(
    name: str,
    doc_changed: bool,
    ticket_changed: bool,
    same_value: bool,
    winner: str,
    pushed: bool,
    conflict_winner: str | None,
) -> None:
    case = FIELD_CASES[name]
    inp = field_scenario(
        name, doc_changed=doc_changed, ticket_changed=ticket_changed, same_value=same_value
    )
    plan = plan_item(inp, winner=winner)  # type: ignore[arg-type]

    expected: list[Any] = []
    if pushed:
        expected.append(update(**{name: case.doc_new_pushed}))
    if conflict_winner is not None:
        expected.append(
            conflict(name, _iso(case.doc_new_pushed), _iso(case.ticket_new), conflict_winner)
        )
    assert plan.actions == tuple(expected)


@pytest.mark.parametrize("name", list(FIELD_CASES))
@pytest.mark.parametrize("winner", ["tracker", "doc"])
def test_tracker_edit_is_never_written_back_into_the_doc(name: str, winner: str) -> None:
    plan = plan_item(field_scenario(name, doc_changed=False, ticket_changed=True), winner=winner)  # type: ignore[arg-type]
    # the only doc writes the planner has are WriteTicket / WriteStatus; neither appears
    assert not any(isinstance(a, WriteTicket | WriteStatus) for a in plan.actions)
    assert plan.actions == ()


@pytest.mark.parametrize("winner", ["tracker", "doc"])
def test_neither_changed_but_fields_differ_does_nothing(winner: str) -> None:
    """A previous tracker-won conflict leaves doc and ticket different; that's settled."""
    doc = make_doc(action="Doc words", owner="bob", due=date(2024, 7, 1), priority="P1")
    ticket = make_ticket(title="Tracker words", assignee="acc-carol", due=None, priority="P3")
    plan = plan_item(make_input(doc, ticket, base=(doc, ticket)), winner=winner)  # type: ignore[arg-type]
    assert plan.actions == ()


def test_several_doc_changes_go_in_one_update_with_conflicts_after() -> None:
    base_doc, base_ticket = make_doc(), make_ticket()
    doc = make_doc(action="New words", due=date(2024, 7, 1), priority="P0")
    ticket = make_ticket(due=date(2024, 8, 1), updated=T1)  # tracker moved the due date too
    plan = plan_item(make_input(doc, ticket, base=(base_doc, base_ticket)), winner="doc")
    assert plan.actions == (
        update(title="New words", due=date(2024, 7, 1), priority="P0"),
        conflict("due", "2024-07-01", "2024-08-01", "doc"),
    )

    plan = plan_item(make_input(doc, ticket, base=(base_doc, base_ticket)), winner="tracker")
    assert plan.actions == (
        update(title="New words", priority="P0"),
        conflict("due", "2024-07-01", "2024-08-01", "tracker"),
    )


@pytest.mark.parametrize(
    ("field", "doc_new", "pushed"),
    [
        pytest.param("due", None, None, id="due-cleared"),
        pytest.param("priority", None, None, id="priority-cleared"),
        pytest.param("owner", None, None, id="owner-removed-unassigns"),
    ],
)
def test_doc_clearing_a_field_is_pushed(field: str, doc_new: Any, pushed: Any) -> None:
    base_doc, ticket = make_doc(), make_ticket()
    doc = dataclasses.replace(base_doc, **{field: doc_new})
    name = {"owner": "assignee"}.get(field, field)
    plan = plan_item(make_input(doc, ticket, base=(base_doc, ticket)))
    assert plan.actions == (update(**{name: pushed}),)


# -- unmapped owners never unassign ---------------------------------------------------------


@pytest.mark.parametrize("winner", ["tracker", "doc"])
@pytest.mark.parametrize(
    "ticket_assignee",
    [
        pytest.param("acc-alice", id="ticket-unchanged"),
        pytest.param("acc-carol", id="ticket-reassigned-too"),
    ],
)
def test_unmapped_owner_never_unassigns(winner: str, ticket_assignee: str) -> None:
    base_doc, base_ticket = make_doc(owner="alice"), make_ticket(assignee="acc-alice")
    doc = make_doc(owner=UNMAPPED)
    ticket = make_ticket(assignee=ticket_assignee, updated=T1)
    inp = make_input(doc, ticket, base=(base_doc, base_ticket))
    assert inp.assignee is None
    plan = plan_item(inp, winner=winner)  # type: ignore[arg-type]
    assert notes(plan) == ["unmapped-owner"]
    assert without_notes(plan) == ()


def test_unmapped_owner_on_first_sync_keeps_ticket_assignee_but_pushes_the_rest() -> None:
    doc = make_doc(owner=UNMAPPED, priority="P0")
    plan = plan_item(make_input(doc, make_ticket(assignee="acc-alice")))
    assert notes(plan) == ["unmapped-owner"]
    assert without_notes(plan) == (update(priority="P0"),)


def test_unmapped_owner_and_unassigned_ticket_is_quiet() -> None:
    doc = make_doc(owner=UNMAPPED)
    ticket = make_ticket(assignee=None)
    plan = plan_item(make_input(doc, ticket, base=(make_doc(owner="alice"), ticket)))
    assert notes(plan) == ["unmapped-owner"]
    assert without_notes(plan) == ()


# -- status with a base ------------------------------------------------------------------

# short names keep the table readable
OPN, PRG, DNE, WNT = Status.OPEN, Status.IN_PROGRESS, Status.DONE, Status.WONT_DO

# base doc status, base ticket status, doc status now, ticket status now, winner, expected
STATUS_CELLS = [
    pytest.param(OPN, OPN, OPN, DNE, "tracker", [write_status(DNE)], id="ticket-only"),
    pytest.param(OPN, OPN, OPN, DNE, "doc", [write_status(DNE)], id="ticket-only-doc-wins"),
    pytest.param(OPN, OPN, DNE, OPN, "tracker", [set_status(DNE)], id="doc-only"),
    pytest.param(OPN, OPN, DNE, OPN, "doc", [set_status(DNE)], id="doc-only-doc-wins"),
    pytest.param(
        OPN,
        OPN,
        DNE,
        WNT,
        "tracker",
        [write_status(WNT), conflict("status", "done", "wont_do", "tracker")],
        id="both-differently-tracker-wins",
    ),
    pytest.param(
        OPN,
        OPN,
        DNE,
        WNT,
        "doc",
        [set_status(DNE), conflict("status", "done", "wont_do", "doc")],
        id="both-differently-doc-wins",
    ),
    pytest.param(OPN, OPN, DNE, DNE, "tracker", [], id="both-same-tracker-wins"),
    pytest.param(OPN, OPN, DNE, DNE, "doc", [], id="both-same-doc-wins"),
    pytest.param(OPN, OPN, OPN, OPN, "tracker", [], id="neither-agree"),
    # a checkbox cannot say "in progress": the doc stays [ ] while the ticket is in progress
    pytest.param(OPN, PRG, OPN, PRG, "tracker", [], id="neither-but-differ-tracker-wins"),
    pytest.param(OPN, PRG, OPN, PRG, "doc", [], id="neither-but-differ-doc-wins"),
    # from that settled state, a tracker move is still written and a doc tick still pushed
    pytest.param(OPN, PRG, OPN, DNE, "tracker", [write_status(DNE)], id="from-differ-ticket-only"),
    pytest.param(OPN, PRG, DNE, PRG, "tracker", [set_status(DNE)], id="from-differ-doc-only"),
    # reopening on either side
    pytest.param(DNE, DNE, DNE, OPN, "tracker", [write_status(OPN)], id="reopened-in-tracker"),
    pytest.param(DNE, DNE, OPN, DNE, "tracker", [set_status(OPN)], id="reopened-in-doc"),
]


@pytest.mark.parametrize(
    ("base_doc_status", "base_ticket_status", "doc_status", "ticket_status", "winner", "expected"),
    STATUS_CELLS,
)
def test_status_with_base(
    base_doc_status: Status,
    base_ticket_status: Status,
    doc_status: Status,
    ticket_status: Status,
    winner: str,
    expected: list[Any],
) -> None:
    base = (make_doc(status=base_doc_status), make_ticket(status=base_ticket_status))
    inp = make_input(
        make_doc(status=doc_status), make_ticket(status=ticket_status, updated=T1), base=base
    )
    assert plan_item(inp, winner=winner).actions == tuple(expected)  # type: ignore[arg-type]


# -- unmanaged (human-created) tickets ------------------------------------------------------


@pytest.mark.parametrize("winner", ["tracker", "doc"])
def test_unmanaged_first_sync_pushes_no_fields_but_syncs_status(winner: str) -> None:
    doc = make_doc(action="Doc words", owner="bob", due=date(2024, 7, 1), priority="P0")
    ticket = make_ticket(
        title="Human title",
        assignee="acc-carol",
        due=None,
        priority=None,
        status=Status.IN_PROGRESS,
    )
    plan = plan_item(make_input(doc, ticket, managed=False), winner=winner)  # type: ignore[arg-type]
    assert plan.actions == (write_status(Status.IN_PROGRESS),)


@pytest.mark.parametrize("name", list(FIELD_CASES))
@pytest.mark.parametrize(
    ("doc_changed", "ticket_changed"),
    [(True, False), (True, True), (False, True)],
    ids=["doc-only", "both", "tracker-only"],
)
@pytest.mark.parametrize("winner", ["tracker", "doc"])
def test_unmanaged_fields_are_never_pushed_nor_conflicted(
    name: str, doc_changed: bool, ticket_changed: bool, winner: str
) -> None:
    inp = field_scenario(
        name, doc_changed=doc_changed, ticket_changed=ticket_changed, managed=False
    )
    assert plan_item(inp, winner=winner).actions == ()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("doc_status", "ticket_status", "expected"),
    [
        pytest.param(DNE, OPN, (set_status(DNE),), id="doc-ticked"),
        pytest.param(OPN, DNE, (write_status(DNE),), id="tracker-closed"),
    ],
)
def test_unmanaged_status_still_syncs_both_ways(
    doc_status: Status, ticket_status: Status, expected: tuple[Any, ...]
) -> None:
    base = (make_doc(), make_ticket())
    doc = make_doc(action="Doc rewrote this", status=doc_status)
    ticket = make_ticket(title="Human retitled this", status=ticket_status, updated=T1)
    plan = plan_item(make_input(doc, ticket, base=base, managed=False))
    assert plan.actions == expected


def test_unmanaged_ticket_missing_from_doc_still_gets_its_key_written() -> None:
    doc, ticket = make_doc(), make_ticket(title="Human title")
    plan = plan_item(make_input(doc, ticket, doc_ticket=None, managed=False))
    assert plan.actions == (WriteTicket(ITEM, DOC_PATH, KEY),)


# -- properties --------------------------------------------------------------------------

TITLES = ["Alert on queue depth", "Add runbook", "Rotate keys"]
OWNER_NAMES = [None, "alice", "bob", UNMAPPED]
IDENTITIES = [None, "acc-alice", "acc-bob", "acc-carol"]
DUES = [None, date(2024, 6, 1), date(2024, 7, 1)]
PRIORITIES = [None, "P0", "P2"]

docs = st.builds(
    DocSide,
    action=st.sampled_from(TITLES),
    owner=st.sampled_from(OWNER_NAMES),
    due=st.sampled_from(DUES),
    priority=st.sampled_from(PRIORITIES),
    status=st.sampled_from(Status),
)
tickets = st.builds(
    make_ticket,
    title=st.sampled_from(TITLES),
    assignee=st.sampled_from(IDENTITIES),
    due=st.sampled_from(DUES),
    priority=st.sampled_from(PRIORITIES),
    status=st.sampled_from(Status),
    updated=st.sampled_from([T0, T1]),
)


@st.composite
def plan_inputs(draw: st.DrawFn) -> PlanInput:
    doc = draw(docs)
    ticket = draw(st.none() | tickets)
    # bases: none (first sync), the current value (side unchanged) or an arbitrary one
    base_doc = draw(st.none() | st.just(doc.snapshot()) | docs.map(DocSide.snapshot))
    ticket_bases = tickets if ticket is None else st.just(ticket) | tickets
    base_ticket = draw(st.none() | ticket_bases.map(ticket_snapshot))
    assignee = OWNERS.get(doc.owner) if doc.owner else None
    draft = draft_for(doc, assignee) if ticket is None and draw(st.booleans()) else None
    doc_ticket = draw(st.sampled_from([None, ticket.key])) if ticket is not None else None
    return PlanInput(
        item_id=ITEM,
        tracker=TRACKER,
        doc_path=DOC_PATH,
        doc=doc,
        doc_ticket=doc_ticket,
        assignee=assignee,
        draft=draft,
        base_doc=base_doc,
        base_ticket=base_ticket,
        ticket=ticket,
        managed=draw(st.booleans()),
    )


winners = st.sampled_from(["tracker", "doc"])


def apply_plan(inp: PlanInput, plan: ItemPlan) -> PlanInput:
    """What the engine does with a plan, reduced to the planner's inputs; then the new
    snapshots become the base, as after a successful sync."""
    doc, ticket, doc_ticket = inp.doc, inp.ticket, inp.doc_ticket
    for action in plan.actions:
        if isinstance(action, Create):
            d = action.draft
            ticket = make_ticket(
                key="OPS-99",
                title=d.title,
                assignee=d.assignee,
                due=d.due,
                priority=d.priority,
                status=d.status,
                updated=T1,
            )
            doc_ticket = ticket.key  # the engine writes the new key into the doc
        elif isinstance(action, WriteTicket):
            doc_ticket = action.key
        elif isinstance(action, WriteStatus):
            doc = dataclasses.replace(doc, status=action.status)
        elif isinstance(action, SetStatus):
            assert ticket is not None
            ticket = dataclasses.replace(ticket, status=action.status, updated=T1)
        elif isinstance(action, UpdateFields):
            assert ticket is not None
            ticket = dataclasses.replace(ticket, **action.changes.items(), updated=T1)
    synced = ticket is not None
    return dataclasses.replace(
        inp,
        doc=doc,
        ticket=ticket,
        doc_ticket=doc_ticket,
        draft=None if synced else inp.draft,
        base_doc=doc.snapshot() if synced else inp.base_doc,
        base_ticket=ticket_snapshot(ticket) if ticket is not None else inp.base_ticket,
    )


@settings(max_examples=500, deadline=None)
@given(plan_inputs(), winners)
def test_planning_is_deterministic(inp: PlanInput, winner: str) -> None:
    assert plan_item(inp, winner) == plan_item(inp, winner)  # type: ignore[arg-type]


@settings(max_examples=500, deadline=None)
@given(plan_inputs(), winners)
def test_applying_a_plan_converges(inp: PlanInput, winner: str) -> None:
    after = apply_plan(inp, plan_item(inp, winner))  # type: ignore[arg-type]
    again = plan_item(after, winner)  # type: ignore[arg-type]
    assert again.writes == ()
    assert not any(isinstance(a, RecordConflict) for a in again.actions)
    # and it stays put
    assert plan_item(apply_plan(after, again), winner).writes == ()  # type: ignore[arg-type]


@settings(max_examples=500, deadline=None)
@given(plan_inputs(), winners)
def test_plan_shape_invariants(inp: PlanInput, winner: str) -> None:
    plan = plan_item(inp, winner)  # type: ignore[arg-type]
    kinds = [type(a) for a in plan.actions]
    assert kinds.count(UpdateFields) <= 1
    assert kinds.count(Create) <= 1
    assert not (WriteStatus in kinds and SetStatus in kinds)
    if inp.ticket is None:
        assert set(kinds) <= {Create, Note}
    if not inp.managed:
        assert UpdateFields not in kinds
        assert all(a.field == "status" for a in plan.actions if isinstance(a, RecordConflict))
    desired = {
        "title": inp.doc.action,
        "assignee": inp.assignee,
        "due": inp.doc.due,
        "priority": inp.doc.priority,
    }
    for action in plan.actions:
        if isinstance(action, UpdateFields):
            pushed = action.changes.items()
            assert pushed  # never an empty update
            # only doc values are pushed, and never an unmapped owner's "nobody"
            assert all(desired[k] == v for k, v in pushed.items())
            if inp.doc.owner and inp.assignee is None:
                assert "assignee" not in pushed
        if isinstance(action, SetStatus):
            assert action.status == inp.doc.status
        if isinstance(action, WriteStatus):
            assert inp.ticket is not None
            assert action.status == inp.ticket.status


# -- bases: where a plan starts and what a run's outcome leaves ---------------------------

OLD = Base(make_doc().snapshot(), ticket_snapshot(make_ticket()))


def planned(doc: DocSide, base: Base | None = OLD) -> ItemPlan:
    return ItemPlan(ITEM, (), doc.snapshot(), base)


DONE_DOC = make_doc(status=Status.DONE)
DONE_TICKET = make_ticket(status=Status.DONE, updated=T1)
REWORDED = make_doc(action="Alert on queue depth early")


@pytest.mark.parametrize(
    ("plan", "outcome", "expected"),
    [
        pytest.param(
            planned(DONE_DOC),
            Outcome(OutcomeKind.APPLIED, DONE_TICKET),
            Base(DONE_DOC.snapshot(), ticket_snapshot(DONE_TICKET)),
            id="applied: both sides advance to what was observed",
        ),
        pytest.param(
            planned(DONE_DOC),
            Outcome(OutcomeKind.REFUSED, make_ticket()),
            OLD,
            id="refused: the old base stands, so the push is planned again",
        ),
        pytest.param(
            planned(DONE_DOC),
            Outcome(OutcomeKind.AMBIGUOUS, make_ticket()),
            OLD,
            id="ambiguous: the old base stands (re-read by key next run)",
        ),
        pytest.param(
            planned(make_doc()),
            Outcome(OutcomeKind.DOC_DROPPED, DONE_TICKET),
            OLD,
            id="doc write dropped: the ticket's close is still a change next run",
        ),
        pytest.param(
            planned(make_doc(), base=None),
            Outcome(OutcomeKind.REFUSED, None),
            None,
            id="refused with no history: still no history",
        ),
        pytest.param(
            planned(make_doc()),
            Outcome(OutcomeKind.APPLIED, DONE_TICKET, doc_written=DONE_DOC.snapshot()),
            Base(DONE_DOC.snapshot(), ticket_snapshot(DONE_TICKET)),
            id="status written into the doc: the doc base takes the written status",
        ),
        pytest.param(
            planned(make_doc()),
            Outcome(
                OutcomeKind.DOC_EDITED,
                DONE_TICKET,
                doc_written=make_doc(owner="bob", status=Status.DONE).snapshot(),
            ),
            Base(DONE_DOC.snapshot(), ticket_snapshot(DONE_TICKET)),
            id="doc edited meanwhile: only the owned cell advances; the owner edit is pushed",
        ),
        pytest.param(
            planned(DONE_DOC, base=None),
            Outcome(OutcomeKind.APPLIED, make_ticket(), created=True),
            Base(make_doc().snapshot(), ticket_snapshot(make_ticket())),
            id="created: the ticket's status is the base (a failed transition is retried)",
        ),
        pytest.param(
            planned(make_doc()),
            Outcome(OutcomeKind.APPLIED, None),
            OLD,
            id="no ticket observed: nothing to advance to",
        ),
    ],
)
def test_next_base(plan: ItemPlan, outcome: Outcome, expected: Base | None) -> None:
    assert next_base(plan, outcome) == expected


def test_next_base_after_a_refused_push_replans_the_push() -> None:
    inp = make_input(DONE_DOC, make_ticket(), base=(make_doc(), make_ticket()))
    plan = plan_item(inp)
    assert plan.actions == (set_status(Status.DONE),)
    base = next_base(plan, Outcome(OutcomeKind.REFUSED, make_ticket()))
    assert base is not None
    again = dataclasses.replace(inp, base_doc=base.doc, base_ticket=base.ticket)
    assert plan_item(again).actions == (set_status(Status.DONE),)


def test_next_base_after_a_dropped_doc_write_replans_the_write() -> None:
    inp = make_input(make_doc(), DONE_TICKET, base=(make_doc(), make_ticket()))
    plan = plan_item(inp)
    assert plan.actions == (write_status(Status.DONE),)
    base = next_base(plan, Outcome(OutcomeKind.DOC_DROPPED, DONE_TICKET))
    assert base is not None
    again = dataclasses.replace(inp, base_doc=base.doc, base_ticket=base.ticket)
    assert plan_item(again).actions == (write_status(Status.DONE),)


@pytest.mark.parametrize(
    ("doc", "ticket", "expected"),
    [
        pytest.param({}, {}, None, id="never synced"),
        pytest.param({"a": 1}, {}, None, id="key only: the run died before snapshotting"),
        pytest.param({"a": 1}, {"b": 2}, Base({"a": 1}, {"b": 2}), id="synced"),
    ],
)
def test_stored_base(doc: dict[str, Any], ticket: dict[str, Any], expected: Base | None) -> None:
    assert stored_base(doc, ticket) == expected


@pytest.mark.parametrize(
    ("stored", "doc", "learned", "expected"),
    [
        pytest.param(OLD, DONE_DOC, DONE_TICKET, OLD, id="history wins"),
        pytest.param(None, DONE_DOC, None, None, id="nothing learned: no history"),
        pytest.param(
            None,
            DONE_DOC,
            make_ticket(),
            Base(make_doc().snapshot(), ticket_snapshot(make_ticket())),
            id="learned create: the created ticket's status is the base",
        ),
        pytest.param(
            None,
            REWORDED,
            make_ticket(),
            Base(make_doc().snapshot(), ticket_snapshot(make_ticket())),
            id="learned create, row reworded since: the created title is the base",
        ),
    ],
)
def test_starting_base(
    stored: Base | None, doc: DocSide, learned: Ticket | None, expected: Base | None
) -> None:
    assert starting_base(stored, doc, learned) == expected


@pytest.mark.parametrize(
    ("plan", "stored", "fresh", "failing", "expected"),
    [
        pytest.param(planned(make_doc()), OLD, False, False, True, id="nothing new"),
        pytest.param(planned(make_doc()), OLD, True, False, False, id="ticket read this run"),
        pytest.param(planned(make_doc()), OLD, False, True, False, id="failing: clear it"),
        pytest.param(planned(make_doc()), None, False, False, False, id="no history"),
        pytest.param(planned(REWORDED), OLD, False, False, False, id="doc changed"),
        pytest.param(
            ItemPlan(ITEM, (write_status(Status.DONE),), make_doc().snapshot(), OLD),
            OLD,
            False,
            False,
            False,
            id="an action",
        ),
    ],
)
def test_settled(
    plan: ItemPlan, stored: Base | None, fresh: bool, failing: bool, expected: bool
) -> None:
    assert settled(plan, stored, fresh, failing) is expected


def test_ticket_from_snapshot_round_trips() -> None:
    ticket = dataclasses.replace(make_ticket(), labels=())
    assert ticket_from_snapshot(KEY, ticket_snapshot(ticket), ITEM) == ticket
    linked = ticket_from_snapshot(KEY, ticket_snapshot(ticket), None)
    assert linked.marker is None


@pytest.mark.parametrize(
    ("attempts", "expected"),
    [(0, 0), (1, 0), (2, 60), (3, 120), (4, 240), (8, 3600), (200, 3600)],
)
def test_retry_delay_is_capped_exponential(attempts: int, expected: int) -> None:
    first, cap = timedelta(minutes=1), timedelta(hours=1)
    assert retry_delay(attempts, first, cap) == timedelta(seconds=expected)


@pytest.mark.parametrize(
    ("text", "ident"),
    [
        ("pm-0123456789abcdef", ItemId.marker("pm-0123456789abcdef")),
        ("ref:jira:OPS-9", ItemId.linked("jira", "OPS-9")),
        ("ref:github:acme/rel#3", ItemId.linked("github", "acme/rel#3")),
    ],
)
def test_item_id_reads_the_stored_form(text: str, ident: ItemId) -> None:
    assert ItemId.parse(text) == ident and str(ident) == text
    assert ident.managed is (ident.kind == "marker")
