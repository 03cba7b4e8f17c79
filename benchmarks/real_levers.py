"""Measure training levers on a small real set by group k-fold: one `vc-train --folds K` per config and seed.

Each config is a name and the vc-train flags it adds to the fixed part (`--data D --folds K
--no-final --seed S`). A config whose folds.json exists is not trained again, so the script
resumes and a table can be printed at any time:

    python benchmarks/real_levers.py --data ../shared/data/ut-interaction --out artifacts/levers \
        --seeds 0,1 base="" e40="--epochs 40"
    python benchmarks/real_levers.py --out artifacts/levers --table

`--sets ut,far,short,synth` runs the same configs on each dev set (benchmarks/derive_sets.py makes
far, short and synth under artifacts/data), each under --out/<set>, and prints one table per set:

    python benchmarks/real_levers.py --sets ut,far,short --seeds 0 base="" searched="--budget 10m"

The seed also changes the fold assignment, so two seeds are two repetitions of k-fold. The
table gives, per config, the mean test accuracy over every fold of every seed, the sd over
those folds (the fold-to-fold spread a difference must beat) and each seed's k-fold mean.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETS = {
    "ut": "../shared/data/ut-interaction",
    "far": "artifacts/data/far",
    "short": "artifacts/data/short",
    "synth": "artifacts/data/synth",
    # far's parts one at a time (derive_sets.py --sets far-clean,noisy,far-cut)
    "far-clean": "artifacts/data/far-clean",
    "noisy": "artifacts/data/noisy",
    "far-cut": "artifacts/data/far-cut",
}
"""Dev sets by name (paths relative to the repository root)."""


def run_dir(out: Path, name: str, seed: int) -> Path:
    return out / f"{name}-s{seed}"


def train(data: str, out: Path, name: str, flags: str, seed: int, folds: int) -> None:
    folder = run_dir(out, name, seed)
    if (folder / "folds.json").is_file():
        print(f"{name} seed {seed}: done before, kept", flush=True)
        return
    if folder.exists():  # an unfinished earlier attempt: start that config and seed again
        shutil.rmtree(folder)
    cmd = [sys.executable, "-m", "lrcn.train", "--data", data, "--folds", str(folds), "--no-final"]
    cmd += ["--seed", str(seed), "--out", str(folder), *shlex.split(flags)]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "command.txt").write_text(shlex.join(["vc-train", *cmd[3:]]) + "\n")
    start = time.monotonic()
    with open(folder / "train.log", "w") as log:
        rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    took = time.monotonic() - start
    if rc != 0:
        print(f"{name} seed {seed}: vc-train exited {rc}; see {folder / 'train.log'}", flush=True)
        return
    acc = json.loads((folder / "folds.json").read_text())["test_accuracy_mean"]
    print(f"{name} seed {seed}: {folds}-fold mean {acc:.3f} in {took:.0f} s", flush=True)


def _shared_part(command: str) -> str:
    """The command without what differs between seeds (--seed, --out)."""
    words, kept = shlex.split(command), []
    for i, w in enumerate(words):
        if w in ("--seed", "--out") or (i and words[i - 1] in ("--seed", "--out")):
            continue
        kept.append(w)
    return shlex.join(kept)


def summary(out: Path, name: str) -> dict | None:
    """Pooled over the seeds run so far: fold accuracies, their mean and sd, and each seed's mean."""
    folds, per_seed, flags, seconds = [], {}, "", 0.0
    for folder in sorted(out.glob(f"{name}-s*")):
        f = folder / "folds.json"
        if not f.is_file() or folder.name.rsplit("-s", 1)[0] != name:
            continue
        d = json.loads(f.read_text())
        accs = [r["test_accuracy"] for r in d["runs"] if r["test_accuracy"] is not None]
        folds += accs
        per_seed[folder.name.rsplit("-s", 1)[1]] = statistics.fmean(accs)
        seconds += sum(r.get("train_seconds") or 0 for r in d["runs"])
        if (folder / "command.txt").is_file():
            flags = _shared_part((folder / "command.txt").read_text())
    if not folds:
        return None
    return {
        "name": name,
        "mean": statistics.fmean(folds),
        "sd": statistics.stdev(folds) if len(folds) > 1 else None,
        "folds": len(folds),
        "per_seed": per_seed,
        "train_seconds": seconds,
        "command": flags,
    }


def table(out: Path, names: list[str]) -> str:
    rows = [
        "| config | mean test acc | sd over folds | folds | per seed | train s | command |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in names:
        s = summary(out, name)
        if s is None:
            continue
        seeds = ", ".join(f"{v:.3f}" for _, v in sorted(s["per_seed"].items()))
        sd = "n/a" if s["sd"] is None else f"{s['sd']:.3f}"
        rows.append(
            f"| {name} | {s['mean']:.3f} | {sd} | {s['folds']} | {seeds} | {s['train_seconds']:.0f} | `{s['command']}` |"
        )
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("configs", nargs="*", help='NAME="vc-train flags" (an empty string: the defaults)')
    ap.add_argument("--data", default="../shared/data/ut-interaction")
    ap.add_argument("--out", default="artifacts/levers")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--sets", default="", help=f"comma list of dev sets ({', '.join(SETS)}) instead of --data")
    ap.add_argument("--table", action="store_true", help="print the table of every config found under --out")
    args = ap.parse_args()
    base = Path(args.out).resolve()
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    unknown = [s for s in sets if s not in SETS]
    if unknown:
        raise SystemExit(f"--sets: unknown {', '.join(unknown)}; choose from {', '.join(SETS)}")
    targets = [(s, str((ROOT / SETS[s]).resolve()), base / s) for s in sets] or [("", args.data, base)]
    configs = [c.split("=", 1) if "=" in c else (c, "") for c in args.configs]
    for label, data, out in targets:
        if not args.table:
            if not Path(data).is_dir():
                print(
                    f"{label or data}: {data} not found (benchmarks/derive_sets.py makes the derived sets)", flush=True
                )
                continue
            os.environ.setdefault("OMP_NUM_THREADS", "1")  # two of these side by side use the two cores best
            for name, flags in configs:
                for seed in (int(s) for s in args.seeds.split(",")):
                    train(data, out, name, flags, seed, args.folds)
        if not out.is_dir():
            continue
        names = [n for n, _ in configs] or sorted({p.name.rsplit("-s", 1)[0] for p in out.glob("*-s*") if p.is_dir()})
        if label:
            print(f"\n{label} ({data})")
        print(table(out, names))


if __name__ == "__main__":
    main()
