"""The intake: bounded, three overflow policies, every drop counted, one wake-up per burst."""

from __future__ import annotations

import threading

import pytest

from spancast import ConfigError
from spancast.pipeline.intake import Intake


def test_drop_newest_refuses_and_counts():
    intake = Intake(3)
    wakes = []
    intake.connect(lambda: wakes.append(1))
    assert [intake.put(i) for i in range(5)] == [True, True, True, False, False]
    assert (len(intake), intake.dropped, len(wakes)) == (3, 2, 1)  # one wake-up for the burst
    assert intake.take(10) == [0, 1, 2] and intake.idle
    intake.put(9)
    assert len(wakes) == 2  # idle again: the next put wakes the loop again


def test_drop_oldest_makes_room():
    intake = Intake(3, "drop_oldest")
    for i in range(5):
        assert intake.put(i)
    assert intake.take(10) == [2, 3, 4] and intake.dropped == 2


def test_take_in_chunks_keeps_the_intake_busy_until_empty():
    intake = Intake(100)
    for i in range(10):
        intake.put(i)
    assert intake.take(4) == [0, 1, 2, 3] and not intake.idle
    assert intake.take(100) == list(range(4, 10)) and intake.idle


def test_block_waits_for_room_then_gives_up():
    intake = Intake(2, "block", block_timeout_s=5)
    intake.put(1)
    intake.put(2)
    result = []
    t = threading.Thread(target=lambda: result.append(intake.put(3)))
    t.start()
    while not intake._room._waiters:  # the producer is blocked on the condition
        pass
    assert intake.take(1) == [1]  # room: the blocked put goes through
    t.join(5)
    assert result == [True] and intake.take(10) == [2, 3]
    quick = Intake(1, "block", block_timeout_s=0.01)
    quick.put(1)
    assert quick.put(2) is False and quick.dropped == 1


@pytest.mark.parametrize(
    "args, path", [((0,), "intake_max_records"), ((5, "spill"), "overflow"), ((5, "block", -1), "block_timeout_s")]
)
def test_bad_settings(args, path):
    with pytest.raises(ConfigError) as info:
        Intake(*args)
    assert info.value.path == path


def test_repr():
    intake = Intake(2)
    intake.put(1)
    assert repr(intake) == "<Intake queued=1/2 policy=drop_newest dropped=0>"
