"""The worker's AckBook: an entry is ready for XACK once every destination settled its position, in any order."""

from __future__ import annotations

from types import SimpleNamespace

from spancast.pipeline.ledger import Progress
from spancast.sources.stream_acks import AckBook


def book_with(lanes):
    changes = []
    book = AckBook(lambda: lanes, lambda: changes.append(1))
    for p in range(6):
        book.hold(p, f"1-{p}".encode())
    return book, changes


def settle(lane, book, start, end):
    lane.progress.mark(start, end)
    book.on_runs("d", [(start, end)])


def test_ready_once_the_last_destination_settles_in_any_order():
    a, b = SimpleNamespace(progress=Progress()), SimpleNamespace(progress=Progress())
    book, changes = book_with([a, b])
    settle(a, book, 3, 5)  # a batch further on finishes first, for one destination only
    assert book.ready == [] and len(book) == 6
    settle(b, book, 4, 6)
    assert book.ready == [b"1-4"]  # 3 waits for b, 5 for a
    settle(b, book, 0, 4)
    assert book.ready == [b"1-4", b"1-3"]
    book.on_low(min(a.progress.low, b.progress.low))  # 0: nothing new below the low mark
    assert len(book) == 4 and changes


def test_a_stalled_low_mark_does_not_hold_back_what_settled_after_it():
    lane = SimpleNamespace(progress=Progress())
    book, _ = book_with([lane])
    settle(lane, book, 1, 6)  # position 0's retries ran out: it never settles
    book.on_low(lane.progress.low)
    assert book.ready == [b"1-1", b"1-2", b"1-3", b"1-4", b"1-5"] and len(book) == 1
    book.forget(b"1-0")  # claimed back after min_idle_s and emitted again at a new position
    book.hold(6, b"1-0")
    assert len(book) == 1
    settle(lane, book, 6, 7)
    assert book.ready[-1] == b"1-0" and len(book) == 0
    ids = book.take(2)
    book.acked(len(ids))
    assert ids == [b"1-1", b"1-2"] and book.ready[0] == b"1-3"


def test_the_low_mark_releases_everything_below_it():
    lane = SimpleNamespace(progress=None)  # a lane that does not track: only the low mark speaks
    book, _ = book_with([lane])
    book.on_low(4)
    assert book.ready == [b"1-0", b"1-1", b"1-2", b"1-3"] and len(book) == 2
    book.on_low(3)  # never backwards
    assert len(book.ready) == 4
