"""The contiguous-done offset tracker: what may be committed, table-driven."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from springhead.kafka.offsets import PartitionOffsets

# Each case: operations ("d", offset) = dispatched, ("f", offset) = delivery finished,
# ("c",) = a commit of what is ready succeeded; then the expected commit_offset and uncommitted.
Op = tuple[str, int] | tuple[str]
CASES: list[tuple[str, Sequence[Op], int | None, int]] = [
    ("nothing dispatched", [], None, 0),
    ("dispatched, none done", [("d", 0), ("d", 1)], None, 2),
    ("first done", [("d", 0), ("d", 1), ("f", 0)], 1, 2),
    ("in order", [("d", 0), ("d", 1), ("d", 2), ("f", 0), ("f", 1), ("f", 2)], 3, 3),
    ("later done first: held back", [("d", 0), ("d", 1), ("d", 2), ("f", 2), ("f", 1)], None, 3),
    (
        "gap filled: jumps to the end of the run",
        [("d", 0), ("d", 1), ("d", 2), ("f", 2), ("f", 1), ("f", 0)],
        3,
        3,
    ),
    (
        "gap filled up to an odd offset",
        [("d", 0), ("d", 1), ("d", 2), ("d", 3), ("f", 3), ("f", 2), ("f", 1), ("f", 0)],
        4,
        4,
    ),
    (
        "run stops at the first not done",
        [("d", 0), ("d", 1), ("d", 2), ("d", 3), ("f", 0), ("f", 1), ("f", 3)],
        2,
        4,
    ),
    (
        "offsets with gaps (compaction, transaction markers)",
        [("d", 10), ("d", 12), ("d", 15), ("f", 12), ("f", 10), ("f", 15)],
        16,
        3,
    ),
    ("committed: nothing new", [("d", 0), ("f", 0), ("c",)], None, 0),
    (
        "committed, then more done",
        [("d", 0), ("d", 1), ("f", 0), ("c",), ("f", 1)],
        2,
        1,
    ),
    (
        "committed while later ones are in delivery",
        [("d", 0), ("d", 1), ("d", 2), ("f", 0), ("f", 2), ("c",)],
        None,
        2,
    ),
    ("starts wherever the first record is", [("d", 500), ("f", 500)], 501, 1),
]


def apply(ops: Sequence[Op]) -> PartitionOffsets:
    offsets = PartitionOffsets()
    for op in ops:
        if op[0] == "d":
            offsets.dispatched(op[1])  # type: ignore[misc]
        elif op[0] == "f":
            offsets.done(op[1])  # type: ignore[misc]
        else:
            ticket = offsets.begin_commit()
            assert ticket is not None
            offsets.committed(ticket)
    return offsets


@pytest.mark.parametrize(
    ("ops", "commit", "uncommitted"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_commit_offset(ops: Sequence[Op], commit: int | None, uncommitted: int) -> None:
    offsets = apply(ops)
    assert offsets.commit_offset == commit
    assert offsets.uncommitted == uncommitted


def test_done_during_a_commit_stays_uncommitted() -> None:
    offsets = apply([("d", 0), ("d", 1), ("f", 0)])
    ticket = offsets.begin_commit()
    assert ticket is not None and ticket.offset == 1 and ticket.records == 1
    offsets.done(1)  # finishes while the commit is on its way
    offsets.committed(ticket)
    assert offsets.committed_offset == 1
    assert offsets.commit_offset == 2
    assert offsets.uncommitted == 1


def test_failed_commit_changes_nothing() -> None:
    offsets = apply([("d", 0), ("f", 0)])
    assert offsets.begin_commit() is not None  # never confirmed
    assert offsets.commit_offset == 1
    assert offsets.uncommitted == 1


def test_counts_in_delivery_and_next_offset() -> None:
    offsets = apply([("d", 3), ("d", 4), ("d", 5), ("f", 4)])
    assert offsets.in_delivery == 2
    assert offsets.next_offset == 3
    assert offsets.ready == 0
    offsets.done(3)
    assert (offsets.in_delivery, offsets.next_offset, offsets.ready) == (1, 5, 2)
    offsets.done(5)
    assert (offsets.in_delivery, offsets.next_offset, offsets.ready) == (0, 6, 3)


@pytest.mark.parametrize(
    ("ops", "bad"),
    [
        ([("d", 1)], ("d", 1)),  # not increasing
        ([("d", 1)], ("d", 0)),
        ([("d", 1)], ("f", 2)),  # never dispatched
        ([("d", 1), ("d", 2), ("f", 2)], ("f", 2)),  # twice
        ([("d", 1), ("f", 1)], ("f", 1)),
        ([], ("f", 0)),
    ],
)
def test_misuse_is_refused(ops: Sequence[Op], bad: Op) -> None:
    offsets = apply(ops)
    with pytest.raises(ValueError):
        apply_one(offsets, bad)


def apply_one(offsets: PartitionOffsets, op: Op) -> None:
    if op[0] == "d":
        offsets.dispatched(op[1])  # type: ignore[misc]
    else:
        offsets.done(op[1])  # type: ignore[misc]


def test_a_long_run_commits_everything() -> None:
    offsets = PartitionOffsets()
    for offset in range(100_000):
        offsets.dispatched(offset)
        offsets.done(offset)
        if offset % 1000 == 999:
            ticket = offsets.begin_commit()
            assert ticket is not None
            offsets.committed(ticket)
    assert offsets.committed_offset == 100_000
    assert offsets.uncommitted == 0


def test_overlapping_commits_of_the_same_offset_count_its_records_once() -> None:
    # Two commits begun before either is confirmed carry the same ticket; confirming both must
    # not take the records off twice (a ">=" in place of ">" would drive ready below zero).
    offsets = apply([("d", 0), ("d", 1), ("f", 0), ("f", 1)])
    first, second = offsets.begin_commit(), offsets.begin_commit()
    assert first is not None and second is not None
    assert (first.offset, first.records) == (second.offset, second.records) == (2, 2)
    offsets.committed(first)
    offsets.committed(second)
    assert (offsets.committed_offset, offsets.ready, offsets.uncommitted) == (2, 0, 0)
    assert offsets.begin_commit() is None


def test_an_older_commit_confirmed_late_changes_nothing() -> None:
    offsets = apply([("d", 0), ("d", 1), ("f", 0)])
    older = offsets.begin_commit()
    offsets.done(1)
    newer = offsets.begin_commit()
    assert older is not None and newer is not None
    offsets.committed(newer)
    offsets.committed(older)  # its answer arrives after the newer one's
    assert (offsets.committed_offset, offsets.ready, offsets.uncommitted) == (2, 0, 0)


def test_in_delivery_counts_what_has_not_finished() -> None:
    offsets = apply([("d", 0), ("d", 1), ("f", 1)])
    assert offsets.in_delivery == 1  # two handed out, one of them (out of order) finished


def test_offsets_as_large_as_kafkas_compare_by_value() -> None:
    # Real offsets are far beyond the small integers Python shares, so equal offsets are
    # different objects: every comparison must be by value.
    base = int("1000000")
    offsets = apply([("d", base), ("d", base + 1), ("f", base + 1), ("f", int("1000000"))])
    assert offsets.commit_offset == base + 2
    ticket = offsets.begin_commit()
    assert ticket is not None
    offsets.committed(ticket)
    assert offsets.commit_offset is None  # the ready offset equals the committed one
