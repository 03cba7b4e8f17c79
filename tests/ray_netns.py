"""Run a command beside a real Ray cluster of N nodes on loopback, in private network and PID namespaces.

    python tests/ray_netns.py --nodes 2 [--cpus 1] [--kill-worker-after K | --kill-node-after K | --freeze-node-after K] [--timeout S] -- CMD ARG...

Needs root and util-linux's `unshare`: the script re-executes itself under
`unshare -n -p -f --mount-proc`, brings up `lo`, starts a head (`ray start --head`) and N-1
worker nodes (`ray start --address`), each with --num-cpus CPUS and its own raylet, runs CMD
with RAY_ADDRESS set and `{address}` in its arguments replaced by the head's HOST:PORT, then
stops the cluster (`ray stop --force`). Token authentication is on, with a token made
for the run and handed to every process (RAY_AUTH_TOKEN), so ~/.ray is neither read nor written. In the network namespace only 127.0.0.1 exists, so Ray
binds to it and nothing leaves loopback (outside one Ray registers its nodes on the machine's
external address and probes a public DNS address to find it). In the PID namespace `ray stop`
sees only this cluster's processes, and the kernel ends them all when this script ends, even
after a timeout. The script's first copy is the namespace's PID 1: it runs a second copy (the
one that does the work) and reaps every process that ends, so `ray stop` does not wait on zombies. `--nodes 0` starts no cluster (for CMD that starts its own, `--ray local`).

`--kill-worker-after K`: SIGKILL one vc-run Ray worker (a `ray::ClipWorker` process) once CMD
has printed K JSON lines; `--kill-node-after K`: SIGKILL a worker node's raylet and everything
under it (a node lost); `--freeze-node-after K`: SIGSTOP them instead (a node gone silent, as
behind a broken network: no connection is refused, nothing answers). Each says what it did on
stderr. The cluster's health checks run every second and declare a node dead after 3 missed
(Ray's defaults: 3 s and 5), so a lost node is noticed within seconds. Exit status: CMD's, 124 on --timeout, 3 when
the cluster did not start.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

INSIDE = "LRCN_RAY_NETNS_INSIDE"
PORT = 6380  # any port: the namespace is ours alone
RAY = str(Path(sys.executable).with_name("ray"))


def _args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", type=int, default=2)
    p.add_argument("--cpus", type=int, default=1)
    p.add_argument("--kill-worker-after", type=int, default=None)
    p.add_argument("--kill-node-after", type=int, default=None)
    p.add_argument("--freeze-node-after", type=int, default=None)
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    a = p.parse_args(argv)
    if a.cmd[:1] == ["--"]:
        a.cmd = a.cmd[1:]
    if not a.cmd:
        p.error("give the command after --")
    return a


def _ray(*args: str, timeout: float = 120.0) -> None:
    r = subprocess.run([RAY, *args], capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"ray {' '.join(args[:2])} failed ({r.returncode}): {r.stderr.strip()[-1500:]}")


def start_cluster(nodes: int, cpus: int, temp_dir: str) -> str:
    common = ["--node-ip-address", "127.0.0.1", "--num-cpus", str(cpus), "--object-store-memory", str(100 * 2**20)]
    _ray(
        "start", "--head", "--port", str(PORT), "--include-dashboard", "false", "--disable-usage-stats",
        "--temp-dir", temp_dir, *common,
    )  # fmt: skip
    address = f"127.0.0.1:{PORT}"
    for _ in range(nodes - 1):
        _ray("start", "--address", address, *common)
    return address


def worker_pids() -> list[int]:
    """vc-run's Ray workers in this PID namespace (Ray names an actor's process ray::ClassName)."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "cmdline").read_bytes().startswith(b"ray::ClipWorker"):
                    pids.append(int(d.name))
            except OSError:
                pass
    return sorted(pids)


def _cmdline(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def node_pids() -> list[int]:
    """A worker node's raylet (not the head's: Ray gives that one --head) and all its descendants."""
    children: dict[int, list[int]] = {}
    raylets = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
            cmd = _cmdline(int(d.name))
            if cmd and cmd[0].endswith(b"/raylet") and b"--head" not in cmd:
                raylets.append(int(d.name))
    found, todo = [], sorted(raylets)[:1]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def _kill(what: str, rows: int) -> None:
    pids = worker_pids()[:1] if what == "worker" else node_pids()
    sig = signal.SIGSTOP if what == "frozen-node" else signal.SIGKILL
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    verb = "froze" if sig == signal.SIGSTOP else "killed"
    print(
        f"ray_netns: {verb} {what.removeprefix('frozen-')} pids {pids} after {rows} rows", file=sys.stderr, flush=True
    )


def _relay(proc: subprocess.Popen, kill: tuple[str, int] | None) -> None:
    """CMD's stdout to ours, line by line; the kill once K JSON lines have gone by."""
    assert proc.stdout is not None
    rows = 0
    for line in proc.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        rows += line.startswith("{")
        if kill is not None and rows == kill[1]:
            _kill(kill[0], rows)
            kill = None


def inside(a: argparse.Namespace) -> int:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=30)
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    os.environ.update(RAY_health_check_period_ms="1000", RAY_health_check_failure_threshold="3")
    # token authentication on, with a token of this run's own: nothing read from or written to ~/.ray
    os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=uuid.uuid4().hex)
    temp_dir = tempfile.mkdtemp(prefix="rayns", dir="/tmp")  # short: Ray's socket paths have a length limit
    deadline = time.monotonic() + a.timeout
    try:
        try:
            address = start_cluster(a.nodes, a.cpus, temp_dir) if a.nodes > 0 else "local"
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            print(f"ray_netns: the cluster did not start: {e}", file=sys.stderr)
            return 3
        env = dict(os.environ, RAY_ADDRESS=address) if a.nodes > 0 else dict(os.environ)
        cmd = [c.replace("{address}", address) for c in a.cmd]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
        kills = [("worker", a.kill_worker_after), ("node", a.kill_node_after), ("frozen-node", a.freeze_node_after)]
        kill = next(((what, k) for what, k in kills if k), None)
        relay = threading.Thread(target=_relay, args=(proc, kill), daemon=True)
        relay.start()
        try:
            rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            print(f"ray_netns: {cmd[0]} ran past --timeout {a.timeout:.0f} s", file=sys.stderr)
            rc = 124
        relay.join(timeout=10)
        return rc
    finally:
        try:
            _ray("stop", "--force", timeout=60)
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            print(f"ray_netns: ray stop: {e}", file=sys.stderr)  # the namespace's end kills what is left
        shutil.rmtree(temp_dir, ignore_errors=True)


def init(argv: list[str]) -> int:
    """PID 1 of the namespace: run the script again as its child and reap every process that ends.

    Ray's daemons detach, so they are orphans whose parent is PID 1. Unreaped, a killed one stays a
    zombie, which `ray stop` counts as alive: it then waits out its 16 s grace period on every stop.
    """
    child = subprocess.Popen([sys.executable, __file__, *argv], env=dict(os.environ, **{INSIDE: "child"}))
    while True:
        pid, status = os.wait()  # the child's status too: nothing else waits on it
        if pid == child.pid:
            return os.waitstatus_to_exitcode(status)


def main(argv: list[str]) -> int:
    a = _args(argv)
    if os.environ.get(INSIDE) == "child":
        return inside(a)
    if os.environ.get(INSIDE):
        return init(argv)
    if shutil.which("unshare") is None:
        print("ray_netns: needs util-linux's unshare", file=sys.stderr)
        return 3
    cmd = ["unshare", "-n", "-p", "-f", "--mount-proc", "--kill-child", sys.executable, __file__, *argv]
    try:
        return subprocess.run(cmd, env=dict(os.environ, **{INSIDE: "1"}), timeout=a.timeout + 90).returncode
    except subprocess.TimeoutExpired:
        return 124


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
