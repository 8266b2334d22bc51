"""Ctrl-C ends a command in one `error: interrupted` line (exit 130), with no traceback from it or its
workers, nothing written and no process left; workers started by a sweep end when their parent dies."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import memcap

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc (Linux)")
SRC = str(Path(memcap.__file__).resolve().parents[1])


def _children(pid: int) -> list[int]:
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(d))
    return found


def _gone(pids: list[int], within: float = 10.0) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if not any(Path(f"/proc/{p}").exists() and "Z" not in Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1][:3]
                   for p in pids):
            return True
        time.sleep(0.05)
    return False


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _ctrl_c_once_workers_run(proc: subprocess.Popen) -> tuple[list[int], str, str]:
    """Wait until `proc` has started its workers, then press Ctrl-C (SIGINT to the whole group)."""
    end = time.monotonic() + 60
    while not (workers := _children(proc.pid)) and proc.poll() is None and time.monotonic() < end:
        time.sleep(0.02)
    assert workers, "the command ended before it started its workers"
    time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return workers, out, err


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A dataset whose verification takes a few seconds over forked workers, and its model."""
    folder = tmp_path_factory.mktemp("big")
    ds = memcap.Dataset.random_ids(N=100_000, n=8, vocab=1000, C=10, seed=0)
    memcap.save_dataset(ds, folder / "ds.npz")
    memcap.save(memcap.compile(ds), folder / "m.mc")
    return folder


@pytest.mark.parametrize("command", [["verify", "m.mc", "ds.npz"], ["compile", "ds.npz", "-o", "new.mc"]])
def test_ctrl_c_is_one_line_and_leaves_nothing(big, command):
    before = sorted(p.name for p in big.iterdir())
    proc = _start([sys.executable, "-m", "memcap", *command], big)
    workers, out, err = _ctrl_c_once_workers_run(proc)
    assert proc.returncode == 130
    *progress, last = err.splitlines()
    assert last == "error: interrupted", err  # after the stage progress a long compile prints, nothing else
    assert all(line.startswith("compile: ") for line in progress), err
    assert "Traceback" not in out
    assert _gone(workers), "a worker outlived the command"
    assert sorted(p.name for p in big.iterdir()) == before  # nothing written, no temporary left


def test_verification_workers_end_when_the_command_is_killed(big):
    proc = _start([sys.executable, "-m", "memcap", "verify", "m.mc", "ds.npz"], big)
    end = time.monotonic() + 60
    while len(workers := _children(proc.pid)) < 2 and proc.poll() is None and time.monotonic() < end:
        time.sleep(0.02)  # both of the pool's workers (the cores here: 2 or more)
    assert len(workers) >= 2
    time.sleep(0.3)  # busy with their slices by now
    proc.kill()  # SIGKILL: the pool cannot terminate its workers; the kernel tells them (PR_SET_PDEATHSIG)
    proc.communicate(timeout=60)
    assert _gone(workers, within=0.5)  # at once, not when their slices are done


SWEEP = textwrap.dedent("""
    import sys, time
    from memcap.interrupts import Interrupted, interruptible
    from memcap.train.workers import run_processes
    try:
        with interruptible():
            run_processes(time.sleep, (120,), 2, lambda: 0, poll=0.05)
    except Interrupted:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
""")


def _sweep_workers(proc: subprocess.Popen) -> list[int]:
    """The spawned workers, once both run Python (spawn first starts a resource tracker, not a worker)."""
    end = time.monotonic() + 60
    while time.monotonic() < end and proc.poll() is None:
        workers = [p for p in _children(proc.pid) if "time" not in Path(f"/proc/{p}/cmdline").read_text()
                   and "spawn_main" in Path(f"/proc/{p}/cmdline").read_text()]
        if len(workers) == 2:
            time.sleep(0.3)  # SIGINT is blocked until a worker ignores it: any moment will do
            return workers
        time.sleep(0.05)
    raise AssertionError("the sweep's workers did not start")


def test_sweep_workers_ignore_ctrl_c_and_are_terminated(tmp_path):
    proc = _start([sys.executable, "-c", SWEEP], tmp_path)
    workers = _sweep_workers(proc)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err == "interrupted\n", err
    assert _gone(workers)


def test_sweep_workers_end_when_their_parent_is_killed(tmp_path):
    proc = _start([sys.executable, "-c", SWEEP], tmp_path)
    workers = _sweep_workers(proc)
    proc.kill()  # SIGKILL: no cleanup runs in the parent
    proc.communicate(timeout=60)
    assert _gone(workers, within=10), "workers kept running after their parent died"
