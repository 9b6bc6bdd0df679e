"""SequenceReplayBuffer: records per observation, chunk continuation, stored states, windows."""

from __future__ import annotations

import numpy as np
import pytest

from edge_rl.algorithms.meta_dreamer.sequence_replay import SequenceReplayBuffer

SIZES = {"h": 2, "m": 1}


def _chunk(start: int, n: int, final: bool) -> dict:
    """Observations start..start+n (value = step index), actions = 10 + k, rewards = -k."""
    obs = np.arange(start, start + n + 1, dtype=np.float32)[:, None]
    actions = np.arange(start, start + n) + 10
    rewards = -np.arange(start, start + n, dtype=np.float32)
    states = {
        "h": np.stack([[k, k] for k in range(start, start + n)]).astype(np.float32),
        "m": np.arange(start, start + n, dtype=np.float32)[:, None],
    }
    return dict(
        observations=obs,
        actions=actions,
        rewards=rewards,
        states_out=states,
        terminated=final,
        truncated=False,
    )


def test_records_align_previous_action_reward_and_state():
    buf = SequenceReplayBuffer(100, SIZES, seed=0)
    buf.add_chunk("a", **_chunk(0, 4, final=False))
    buf.add_chunk("a", **_chunk(4, 3, final=True))  # continues: its first obs is o_4 again
    assert len(buf) == 8  # o_0 .. o_7, the terminal observation included once
    w = buf.sample(1, 8)
    assert w["obs"][:, 0, 0].tolist() == list(range(8))
    assert w["prev_actions"][:, 0].tolist() == [-1, 10, 11, 12, 13, 14, 15, 16]
    assert w["rewards"][:, 0].tolist() == [0, 0, -1, -2, -3, -4, -5, -6]
    assert w["continues"][:, 0].tolist() == [1] * 7 + [0]
    assert w["h"].tolist() == [[0.0, 0.0]]  # a trial starts from zero state


def test_window_starts_from_the_state_carried_into_it():
    buf = SequenceReplayBuffer(100, SIZES, seed=1)
    buf.add_chunk("a", **_chunk(0, 9, final=True))
    for _ in range(20):
        w = buf.sample(1, 3)
        first = int(w["obs"][0, 0, 0])
        if first == 0:
            assert w["m"][0, 0] == 0.0
        else:  # the state after step first-1
            assert w["m"][0, 0] == first - 1 and w["h"][0].tolist() == [first - 1] * 2
        assert w["obs"][:, 0, 0].tolist() == [first, first + 1, first + 2]


def test_windows_never_cross_trials_and_eviction_is_oldest_first():
    buf = SequenceReplayBuffer(12, SIZES, seed=2)
    buf.add_chunk("a", **_chunk(0, 5, final=True))
    buf.add_chunk("b", **_chunk(100, 5, final=True))
    assert buf.num_trials == 2
    for _ in range(20):
        obs = buf.sample(1, 6)["obs"][:, 0, 0]
        assert np.all(np.diff(obs) == 1)
    buf.add_chunk("c", **_chunk(200, 5, final=True))
    assert buf.num_trials == 2 and len(buf) == 12  # "a" went first
    assert buf.has_window(6) and not buf.has_window(7)
    with pytest.raises(ValueError, match="records"):
        buf.sample(1, 7)


def test_state_round_trip_and_bad_chunks():
    buf = SequenceReplayBuffer(100, SIZES, seed=3)
    buf.add_chunk("a", **_chunk(0, 6, final=False))
    copy = SequenceReplayBuffer(100, SIZES, seed=99)
    copy.set_state(buf.get_state())
    assert len(copy) == len(buf)
    np.testing.assert_array_equal(copy.sample(2, 4)["obs"], buf.sample(2, 4)["obs"])
    bad = _chunk(0, 3, final=False)
    bad["rewards"] = bad["rewards"][:2]
    with pytest.raises(ValueError, match="rewards"):
        buf.add_chunk("x", **bad)
    with pytest.raises(ValueError, match="capacity"):
        SequenceReplayBuffer(0, SIZES)


def test_guide_actions_are_stored_per_observation_and_continue_across_chunks():
    buf = SequenceReplayBuffer(100, SIZES, seed=3, with_guide=True)
    # one label per observation; the continuing chunk's first one repeats o_4's
    buf.add_chunk("a", **_chunk(0, 4, final=False), guide_actions=np.array([5, 6, 7, 8, 9]))
    buf.add_chunk("a", **_chunk(4, 3, final=True), guide_actions=np.array([9, 1, 2, -1]))
    w = buf.sample(1, 8)
    assert w["guide_actions"][:, 0].tolist() == [5, 6, 7, 8, 9, 1, 2, -1]
    with pytest.raises(ValueError, match="needs 4 guide actions, got None"):
        buf.add_chunk("b", **_chunk(0, 3, final=True))
    plain = SequenceReplayBuffer(100, SIZES, seed=3)
    plain.add_chunk("a", **_chunk(0, 4, final=True))
    assert "guide_actions" not in plain.sample(1, 4)


def test_a_guided_buffer_restores_an_unguided_one_with_unlabelled_steps():
    plain = SequenceReplayBuffer(100, SIZES, seed=4)
    plain.add_chunk("a", **_chunk(0, 5, final=True))
    guided = SequenceReplayBuffer(100, SIZES, seed=4, with_guide=True)
    guided.set_state(plain.get_state())
    assert guided.sample(1, 6)["guide_actions"][:, 0].tolist() == [-1] * 6
