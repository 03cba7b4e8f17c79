"""`vc-train --nproc N`: start torchrun on this machine with the same options, minus --nproc.

Torch-free, so the launcher process stays light; torchrun then starts N `python -m lrcn.train`
ranks and, when one fails, stops the others and exits non-zero.
"""

from __future__ import annotations

import os
import subprocess
import sys

from lrcn.runtime.console import err_console, fail


def several_ranks() -> bool:
    """True inside a torchrun job of two or more processes."""
    return os.environ.get("WORLD_SIZE", "1").strip() not in ("", "0", "1")


def forwarded_args(ctx, drop: tuple[str, ...] = ("nproc",)) -> list[str]:
    """The options the user gave on this command line (a typer/click Context; defaults left out), as argv again."""
    args: list[str] = []
    for p in ctx.command.params:
        source = ctx.get_parameter_source(p.name)
        if p.name in drop or source is None or source.name == "DEFAULT":
            continue
        value, name = ctx.params[p.name], max(p.opts, key=len)
        if getattr(p, "is_flag", False):
            if value:
                args.append(name)
            elif p.secondary_opts:
                args.append(max(p.secondary_opts, key=len))
        elif value is not None:
            args += [name, str(value)]
    return args


def torchrun_command(nproc: int, args: list[str]) -> list[str]:
    # --standalone: a rendezvous on a free local port, so two jobs on one machine never collide
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        str(nproc),
        "-m",
        "lrcn.train",
        *args,
    ]


AGENT_FAILURE = "torch.distributed.elastic.multiprocessing.errors.ChildFailedError"


def relay_stderr(lines, out) -> None:
    """Pass the job's stderr through, less torchrun's own traceback when a rank failed.

    The failing rank has already said why in one line; torchrun's ChildFailedError report
    after it (the launcher's traceback and a table of exit codes) is dropped. Everything from
    the first plain traceback on is held to the end, so a rank's own crash is still shown.
    """
    held: list[str] = []
    for line in lines:
        if held or line.startswith("Traceback (most recent call last)"):
            held.append(line)
        else:
            out.write(line)
            out.flush()
    starts = [i for i, line in enumerate(held) if line.startswith("Traceback (most recent call last)")]
    agent = next((i for i in reversed(starts) if any(AGENT_FAILURE in x for x in held[i:])), len(held))
    out.writelines(held[:agent])
    out.flush()


def launch_torchrun(ctx, nproc: int, chosen: dict[str, str] | None = None) -> int:
    """Run the job with the current command's options; returns torchrun's exit code (non-zero when any rank failed).

    `chosen`: options this process settled (vc-train's `auto` frames and zoom, by option name),
    given to every rank instead of what the command line said."""
    if nproc < 1:
        raise fail(f"--nproc must be >= 1, got {nproc}", 2)
    chosen = chosen or {}
    args = forwarded_args(ctx, drop=("nproc", *chosen))
    for name, value in chosen.items():
        args += [f"--{name.replace('_', '-')}", value]
    cmd = torchrun_command(nproc, args)
    env = dict(os.environ)
    # torchrun would set 1 thread per rank and warn; split the cores between the ranks instead
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    err_console.print("torchrun: " + " ".join(cmd[1:]), highlight=False, markup=False)
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True, errors="replace")
    try:
        relay_stderr(proc.stderr, sys.stderr)
    finally:  # Ctrl-C reaches torchrun and the ranks too; let them finish their exits
        code = proc.wait()
    if code:
        err_console.print(
            f"[bold red]error:[/] the {nproc}-process job failed (torchrun exit code {code}); "
            "the failing rank's message is above",
            highlight=False,
        )
    return code
