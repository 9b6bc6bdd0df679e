import numpy as np
import pytest

from edge_rl.algorithms.adsac.replay import NStepReplayBuffer, n_step_windows


def _episode(length: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(length + 1, 3)).astype(np.float32)
    actions = rng.integers(0, 5, size=length)
    rewards = rng.normal(size=length)
    return obs, actions, rewards


def test_n_step_windows_by_hand() -> None:
    obs = np.arange(5, dtype=np.float32).reshape(5, 1)  # o0..o4
    rewards = np.array([1.0, 2.0, 3.0, 4.0])
    cols, c = n_step_windows(obs, np.zeros(4, int), rewards, 3, 0.5, True, True)
    assert c == 4
    np.testing.assert_allclose(cols["rewards"], [1 + 1 + 0.75, 2 + 1.5 + 1, 3 + 2, 4])
    np.testing.assert_allclose(cols["next_obs"][:, 0], [3, 4, 4, 4])
    # windows reaching the terminal state do not bootstrap
    np.testing.assert_allclose(cols["discounts"], [0.125, 0, 0, 0])


def test_truncated_and_unfinished_chunks() -> None:
    obs = np.arange(5, dtype=np.float32).reshape(5, 1)
    rewards = np.ones(4)
    cols, c = n_step_windows(obs, np.zeros(4, int), rewards, 3, 0.5, False, True)
    # truncation bootstraps from the last observation
    np.testing.assert_allclose(cols["discounts"], [0.125, 0.125, 0.25, 0.5])
    cols, c = n_step_windows(obs, np.zeros(4, int), rewards, 3, 0.5, False, False)
    assert c == 2  # only t=0,1 have three rewards ahead


@pytest.mark.parametrize("cuts", [[], [1], [2, 5], [3, 4, 9]])
def test_chunked_episode_equals_whole_episode(cuts: list[int]) -> None:
    obs, actions, rewards = _episode(12)
    whole = NStepReplayBuffer(100, (3,), n_step=3, gamma=0.9)
    whole.add_chunk("e", obs, actions, rewards, terminated=True, truncated=False)
    chunked = NStepReplayBuffer(100, (3,), n_step=3, gamma=0.9)
    bounds = [0, *cuts, 12]
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        chunked.add_chunk("e", obs[a : b + 1], actions[a:b], rewards[a:b], b == 12, False)
    assert len(whole) == len(chunked) == 12 and chunked.num_pending_episodes == 0
    for key in ("obs", "actions", "rewards", "next_obs", "discounts"):
        np.testing.assert_allclose(whole._cols[key][:12], chunked._cols[key][:12], rtol=1e-6)


def test_ring_overwrites_oldest_and_samples_valid_rows() -> None:
    buf = NStepReplayBuffer(5, (3,), n_step=1, gamma=0.9, seed=0)
    obs, actions, rewards = _episode(8)
    buf.add_chunk(1, obs, actions, rewards, True, False)
    assert len(buf) == 5 and buf.added_total == 8
    batch = buf.sample(64)
    assert batch["obs"].shape == (64, 3) and batch["actions"].dtype == np.int64
    kept = {tuple(o) for o in obs[3:8]}  # the newest five transitions
    assert {tuple(o) for o in batch["obs"]} <= kept


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="capacity"):
        NStepReplayBuffer(0, (3,), 1, 0.9)
    buf = NStepReplayBuffer(5, (3,), n_step=1, gamma=0.9)
    with pytest.raises(ValueError, match="empty"):
        buf.sample(1)
    with pytest.raises(ValueError, match="chunk shapes"):
        buf.add_chunk(0, np.zeros((3, 2)), np.zeros(2), np.zeros(2), True, False)


def test_state_round_trip_continues_identically() -> None:
    obs, actions, rewards = _episode(10)
    a = NStepReplayBuffer(8, (3,), n_step=3, gamma=0.9, seed=3)
    a.add_chunk("e", obs[:7], actions[:6], rewards[:6], False, False)  # leaves a waiting tail
    b = NStepReplayBuffer(8, (3,), n_step=3, gamma=0.9, seed=99)
    b.set_state(a.get_state())
    for buf in (a, b):
        buf.add_chunk("e", obs[6:], actions[6:], rewards[6:], True, False)
    assert len(a) == len(b) and a.added_total == b.added_total == 10
    sa, sb = a.sample(16), b.sample(16)  # same RNG state -> same rows
    for key in sa:
        np.testing.assert_array_equal(sa[key], sb[key])
    small = NStepReplayBuffer(2, (3,), n_step=3, gamma=0.9)
    with pytest.raises(ValueError, match="replay_capacity"):
        small.set_state(a.get_state())
