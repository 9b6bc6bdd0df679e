"""A real Ray head on loopback (`ray start --head`), a short ADSAC training submitted to it with
scripts/submit.sh (`ray job submit`), its checkpoint and metrics checked, the head stopped.

Only this test's own head is stopped (its process group), never other Ray instances on the
machine (`ray stop` would stop them all). Token auth stays on, with a token of the test's own
(RAY_AUTH_TOKEN_PATH), so ~/.ray/auth_token is neither needed nor touched.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.ray

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Head:
    address: str  # job submission (dashboard) address
    env: dict[str, str]


@pytest.fixture(scope="module")
def ray_head() -> Iterator[Head]:
    # Short temp path: Ray's unix sockets live under it (107-byte limit).
    temp = Path(tempfile.mkdtemp(prefix="erlh", dir="/tmp"))
    token = temp / "auth_token"
    token.write_text(secrets.token_hex(32))
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # bind and advertise loopback only
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": str(token),
        "WANDB_MODE": "offline",
    }
    env.pop("RAY_ADDRESS", None)
    dashboard = _free_port()
    ports = [_free_port() for _ in range(3)]
    cmd = [
        str(BIN / "ray"), "start", "--head", "--block", "--node-ip-address", "127.0.0.1",
        "--port", str(ports[0]), "--dashboard-host", "127.0.0.1", "--dashboard-port",
        str(dashboard), "--dashboard-agent-listen-port", str(ports[1]),
        "--ray-client-server-port", str(ports[2]), "--num-cpus", "2", "--temp-dir", str(temp),
        "--include-dashboard", "true", "--disable-usage-stats",
    ]  # fmt: skip
    log = (temp / "head.log").open("w")
    # Its own process group: stopping the head kills exactly this group.
    head = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip
    address = f"http://127.0.0.1:{dashboard}"
    try:
        deadline = time.monotonic() + 90
        while True:
            probe = subprocess.run([str(BIN / "ray"), "job", "list", "--address", address],
                                   env=env, capture_output=True, text=True)  # fmt: skip
            if probe.returncode == 0:
                break
            if head.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"ray head did not come up: {(temp / 'head.log').read_text()[-2000:]}")
            time.sleep(1)
        yield Head(address, env)
    finally:
        _stop(head)
        log.close()
        shutil.rmtree(temp, ignore_errors=True)


def _stop(head: subprocess.Popen) -> None:
    """SIGTERM the head's process group, then SIGKILL what is left of it."""
    for sig, wait_s in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(head.pid, sig)
        except ProcessLookupError:
            return
        try:
            head.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue
        if sig == signal.SIGKILL:
            return
    try:  # the group may outlive its leader
        os.killpg(head.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_submit_short_adsac_training_to_a_loopback_cluster(ray_head: Head, tmp_path: Path) -> None:
    out = tmp_path / "run"
    job_id = f"edge-rl-test-{secrets.token_hex(4)}"
    settings = {
        "attention_width": 16, "denoiser_hidden": 32, "critic_hidden": 32, "diffusion_steps": 2,
        "train_batch_size_per_learner": 32, "num_steps_sampled_before_learning_starts": 16,
        "rollout_fragment_length": 16, "updates_per_env_step": 0.25, "env.horizon": 20_000,
    }  # fmt: skip
    argv = [
        "bash", str(ROOT / "scripts" / "submit.sh"), "--address", ray_head.address,
        "--job-id", job_id, "--", "train", "--algo", "adsac", "--timesteps", "96",
        "--num-env-runners", "1", "--cpus-per-env-runner", "0.5", "--envs-per-runner", "2",
        "--checkpoint-every", "2", "--output", str(out),
        *[f"--set={k}={v}" for k, v in settings.items()],
    ]  # fmt: skip
    proc = subprocess.run(argv, env=ray_head.env, capture_output=True, text=True, timeout=300)
    logs = proc.stdout + proc.stderr
    assert proc.returncode == 0, logs[-4000:]
    # the logs were streamed back, and the script says where the results are
    assert "iter     3" in logs and "checkpoint:" in logs
    assert f"results: {out}" in logs
    status = subprocess.run(
        [str(BIN / "python"), "-c", "import sys; from ray.job_submission import "
         "JobSubmissionClient as C; print(C(sys.argv[1]).get_job_status(sys.argv[2]).value)",
         ray_head.address, job_id],
        env=ray_head.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert status.stdout.strip().splitlines()[-1] == "SUCCEEDED", status.stdout + status.stderr
    assert (out / "checkpoints" / "final").is_dir()
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert [float(r["train/iteration"]) for r in rows] == [1, 2, 3]
    assert float(rows[-1]["env/steps"]) >= 96
    assert float(rows[-1]["env_runners/healthy"]) == 1  # a remote env runner did the sampling
    spec = json.loads((out / "run.json").read_text())["spec"]
    assert spec["algo"] == "adsac" and spec["num_env_runners"] == 1


def test_submit_rejects_relative_output(ray_head: Head) -> None:
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "submit.sh"), "--address", ray_head.address, "--",
         "train", "--algo", "adsac", "--output", "runs/x"],
        env=ray_head.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2 and "absolute path" in proc.stderr
