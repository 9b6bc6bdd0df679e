"""Weight averaging of training checkpoints (SWA-style), without a Ray runtime.

Averaging the weights of several late checkpoints of one run (Izmailov et al., "Averaging
Weights Leads to Wider Optima and Better Generalization", UAI 2018) gives one policy from the
basin they share instead of one noisy point in it. Measured on meta-dreamer
(docs/history/load-balance.md, session 9): the average of five checkpoints scored like the
single validation-picked ones (level with A2C), no better, no worse.

``average_checkpoints`` writes a new checkpoint: a copy of the LAST input checkpoint (so the
optimizer state, the replay buffer and everything else come from there) whose RLModule weights
(every ``module_state.pkl`` under it) are the element-wise mean over all inputs. Floating-point
arrays and Python floats are averaged; everything else (integer counters, flags) is taken from
the last checkpoint. The result loads wherever a checkpoint does: ``edge-rl evaluate
--checkpoint``, ``scripts/eval_checkpoints.py``, ``--init-from``.
"""

from __future__ import annotations

import pickle
import shutil
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: the file RLlib writes an RLModule's weights to (one per module, pickled name -> array)
MODULE_STATE_FILE = "module_state.pkl"


def _is_float(value: Any) -> bool:
    if isinstance(value, np.ndarray):
        return np.issubdtype(value.dtype, np.floating)
    return isinstance(value, float | np.floating)


def average_states(states: Sequence[Mapping[str, Any]]) -> OrderedDict[str, Any]:
    """Element-wise mean of module states (name -> array) that share names and shapes.

    Floating-point entries are averaged (in float64, returned in their own dtype); other
    entries are taken from the last state. Nested mappings are averaged key by key.

    Raises:
        ValueError: no states, or states with different names or shapes (checkpoints of
            different models).
    """
    if not states:
        raise ValueError("nothing to average: pass at least one module state")
    last = states[-1]
    out: OrderedDict[str, Any] = OrderedDict()
    for state in states:
        if set(state) != set(last):
            differ = sorted(set(state) ^ set(last))[:5]
            raise ValueError(
                f"the checkpoints hold different models (weights named differently: {differ}); "
                "average checkpoints of one run only"
            )
    for name, value in last.items():
        values = [state[name] for state in states]
        if isinstance(value, Mapping):
            out[name] = average_states(values)
        elif _is_float(value):
            shapes = {np.shape(v) for v in values}
            if len(shapes) != 1:
                raise ValueError(
                    f"weight {name!r} has different shapes {sorted(shapes)} across the "
                    "checkpoints; average checkpoints of one run only"
                )
            mean = np.mean(np.stack([np.asarray(v, np.float64) for v in values]), axis=0)
            if isinstance(value, np.ndarray):
                out[name] = mean.astype(value.dtype)
            else:
                out[name] = type(value)(mean)
        else:
            out[name] = value
    return out


def module_state_files(checkpoint: Path) -> list[Path]:
    """Paths (relative to ``checkpoint``) of every module_state.pkl under it, sorted."""
    return sorted(p.relative_to(checkpoint) for p in checkpoint.rglob(MODULE_STATE_FILE))


def average_checkpoints(checkpoints: Sequence[str | Path], output: str | Path) -> Path:
    """Write the weight average of ``checkpoints`` to ``output`` (see the module docstring).

    Args:
        checkpoints: checkpoint directories of one run (e.g. ``RUN/checkpoints/iter_000260``),
            oldest first; the last one supplies everything but the averaged weights.
        output: the new checkpoint directory; must not exist yet.

    Returns:
        ``output`` as an absolute path.

    Raises:
        FileNotFoundError: a checkpoint is missing or holds no module weights.
        FileExistsError: ``output`` exists.
        ValueError: the checkpoints hold different models.
    """
    paths = [Path(c).resolve() for c in checkpoints]
    if not paths:
        raise ValueError("nothing to average: pass at least one checkpoint")
    output = Path(output).resolve()
    if output.exists():
        raise FileExistsError(f"{output} exists; pick a new output directory or remove it")
    for path in paths:
        if not path.is_dir():
            raise FileNotFoundError(f"checkpoint {path} does not exist")
    files = module_state_files(paths[-1])
    if not files:
        raise FileNotFoundError(
            f"{paths[-1]} holds no {MODULE_STATE_FILE}: pass checkpoints written by "
            "`edge-rl train` (RUN/checkpoints/iter_* or final)"
        )
    for path in paths[:-1]:
        if module_state_files(path) != files:
            raise ValueError(
                f"{path} and {paths[-1]} hold different modules; average checkpoints of one "
                "run only"
            )
    shutil.copytree(paths[-1], output)
    for rel in files:
        states = []
        for path in paths:
            with (path / rel).open("rb") as f:
                states.append(pickle.load(f))
        with (output / rel).open("wb") as f:
            pickle.dump(average_states(states), f)
    return output


def iteration_checkpoints(run: str | Path) -> list[tuple[int, Path]]:
    """(iteration, path) of every periodic checkpoint ``RUN/checkpoints/iter_N``, oldest first."""
    root = Path(run) / "checkpoints"
    found = root.glob("iter_*") if root.is_dir() else []
    return sorted((int(p.name.split("_")[1]), p) for p in found)


def periodic_checkpoints(run: str | Path, first: int, last: int | None = None) -> list[Path]:
    """The periodic checkpoints ``RUN/checkpoints/iter_N`` with first <= N <= last, oldest first.

    Raises:
        FileNotFoundError: ``run`` has no such checkpoints (with the iterations it has).
    """
    found = iteration_checkpoints(run)
    chosen = [p for i, p in found if i >= first and (last is None or i <= last)]
    if not chosen:
        have = f"iterations {found[0][0]}..{found[-1][0]}" if found else "none"
        raise FileNotFoundError(
            f"{run} has no periodic checkpoint in iterations {first}..{last or 'end'} (it has "
            f"{have}); train with --keep-checkpoints 0 to keep them all"
        )
    return chosen
