"""Weight averaging of checkpoints: the arithmetic, the file handling and the errors."""

from __future__ import annotations

import pickle
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

from edge_rl.training.averaging import (
    average_checkpoints,
    average_states,
    module_state_files,
    periodic_checkpoints,
)

MODULE = Path("learner_group/learner/rl_module/default_policy/module_state.pkl")


def _write_checkpoint(root: Path, weight: float, step: int) -> Path:
    """A checkpoint-shaped directory: one module state plus an unrelated file."""
    path = root / MODULE
    path.parent.mkdir(parents=True)
    state = OrderedDict(
        w=np.full((2, 3), weight, np.float32),
        b=np.array([weight, -weight], np.float32),
        count=np.array(step, np.int64),
        scale=float(weight),
    )
    path.write_bytes(pickle.dumps(state))
    (root / "algorithm_state.pkl").write_bytes(pickle.dumps({"step": step}))
    return root


def _read(path: Path) -> OrderedDict:
    return pickle.loads((path / MODULE).read_bytes())


def test_average_states_means_floats_and_keeps_the_rest_from_the_last() -> None:
    a = {"w": np.array([1.0, 2.0], np.float32), "n": np.array(3), "s": 1.0, "d": {"x": 2.0}}
    b = {"w": np.array([3.0, 6.0], np.float32), "n": np.array(7), "s": 2.0, "d": {"x": 4.0}}
    out = average_states([a, b])
    np.testing.assert_allclose(out["w"], [2.0, 4.0])
    assert out["w"].dtype == np.float32
    assert int(out["n"]) == 7  # integers are counters: from the last state, not averaged
    assert out["s"] == pytest.approx(1.5) and isinstance(out["s"], float)
    assert out["d"]["x"] == pytest.approx(3.0)
    assert list(out) == list(b)


def test_average_states_rejects_different_models() -> None:
    with pytest.raises(ValueError, match="different models"):
        average_states([{"w": np.zeros(2)}, {"v": np.zeros(2)}])
    with pytest.raises(ValueError, match="different shapes"):
        average_states([{"w": np.zeros(2)}, {"w": np.zeros(3)}])
    with pytest.raises(ValueError, match="at least one"):
        average_states([])


def test_average_checkpoints_writes_the_mean_into_a_copy_of_the_last(tmp_path: Path) -> None:
    runs = [
        _write_checkpoint(tmp_path / f"iter_{i:06d}", w, i)
        for i, w in [(1, 1.0), (2, 2.0), (3, 6.0)]
    ]
    out = average_checkpoints(runs, tmp_path / "avg")
    state = _read(out)
    np.testing.assert_allclose(state["w"], np.full((2, 3), 3.0))
    np.testing.assert_allclose(state["b"], [3.0, -3.0])
    assert int(state["count"]) == 3 and state["scale"] == pytest.approx(3.0)
    # everything else is the last checkpoint's, and the inputs are untouched
    assert pickle.loads((out / "algorithm_state.pkl").read_bytes()) == {"step": 3}
    np.testing.assert_allclose(_read(runs[0])["w"], np.full((2, 3), 1.0))
    assert module_state_files(out) == [MODULE]


def test_average_checkpoints_errors_say_what_to_fix(tmp_path: Path) -> None:
    one = _write_checkpoint(tmp_path / "a", 1.0, 1)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        average_checkpoints([tmp_path / "missing", one], tmp_path / "out")
    with pytest.raises(FileExistsError, match="exists"):
        average_checkpoints([one], tmp_path / "a")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="edge-rl train"):
        average_checkpoints([one, empty], tmp_path / "out")
    other = tmp_path / "other" / "x" / "module_state.pkl"
    other.parent.mkdir(parents=True)
    other.write_bytes(pickle.dumps({}))
    with pytest.raises(ValueError, match="different modules"):
        average_checkpoints([other.parent.parent, one], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_periodic_checkpoints_picks_the_iteration_range(tmp_path: Path) -> None:
    for i in (20, 40, 60, 80):
        (tmp_path / "checkpoints" / f"iter_{i:06d}").mkdir(parents=True)
    (tmp_path / "checkpoints" / "final").mkdir()
    names = [p.name for p in periodic_checkpoints(tmp_path, 40, 60)]
    assert names == ["iter_000040", "iter_000060"]
    assert [p.name for p in periodic_checkpoints(tmp_path, 50)] == ["iter_000060", "iter_000080"]
    with pytest.raises(FileNotFoundError, match="iterations 20..80"):
        periodic_checkpoints(tmp_path, 100)
