"""Faults a user or a job scheduler inflicts, tried on the real commands, counted (docs/guarantees.md, "Reliability").

    python benchmarks/faults.py [--jobs N] [--only inputs,signals,resume]

Three tables:

- *Bad input*: each kind of malformed file, value or argument (the kinds docs/guarantees.md lists) given to
  `main.py`, `synthesize.py` or `python -m toycorewar`: how many exit with status 2 and exactly one
  line on stderr, no traceback, and leave no experiment folder behind.
- *Signals*: SIGINT and SIGTERM sent to `main.py` (`-j 1` and `-j 2`) and `parameter_search.py`,
  started in the foreground (a process of its own), with `&` in a non-interactive bash script
  (SIGINT ignored at start), and in a session of its own (as a scheduler starts jobs): how many exit
  130 with every interrupted run's `models/last` at its summary's episode.
- *Resume*: a tiny run of each agent stopped at several points (in its first step, between two
  evaluations, at one, after copies have gone idle) and resumed: how many end with the episode count,
  evaluation logs, best model and final weights of the same run never stopped.

Each table prints what failed, if anything.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "cli"))
from experiment_files import tiny_config, tiny_run  # noqa: E402

from benchmarks.host import describe_machine  # noqa: E402

PYTHON = sys.executable
TARGETS = [[0, 10, 30, 250]]
TIMEOUT = 300


def write_inputs(folder: Path, runs: list[dict] | None = None, config: dict | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config or tiny_config()), encoding="utf-8")
    (folder / "training.json").write_text(json.dumps(runs or [tiny_run("r", "DQN", episodes=40, targets=TARGETS)]),
                                          encoding="utf-8")


# -- bad input ----------------------------------------------------------------------------------------
def config_with(change: Callable[[dict], None]) -> Callable[[Path], list[str]]:
    def prepare(folder: Path) -> list[str]:
        config = tiny_config()
        change(config)
        write_inputs(folder, config=config)
        return [PYTHON, str(ROOT / "main.py"), "x", "--quiet", "-j", "1"]
    return prepare


def run_with(change: Callable[[dict], None]) -> Callable[[Path], list[str]]:
    def prepare(folder: Path) -> list[str]:
        run = tiny_run("r", "DQN", episodes=40, targets=TARGETS)
        change(run)
        write_inputs(folder, [run])
        return [PYTHON, str(ROOT / "main.py"), "x", "--quiet", "-j", "1"]
    return prepare


def file_text(name: str, data: bytes) -> Callable[[Path], list[str]]:
    def prepare(folder: Path) -> list[str]:
        write_inputs(folder)
        (folder / name).write_bytes(data)
        return [PYTHON, str(ROOT / "main.py"), "x", "--quiet", "-j", "1"]
    return prepare


def lr_text(text: str) -> Callable[[Path], list[str]]:
    def prepare(folder: Path) -> list[str]:
        write_inputs(folder)
        path = folder / "config.json"
        path.write_text(path.read_text(encoding="utf-8").replace('"lr": 0.001', f'"lr": {text}', 1), encoding="utf-8")
        return [PYTHON, str(ROOT / "main.py"), "x", "--quiet", "-j", "1"]
    return prepare


def command(*args: str, setup: Callable[[Path], None] | None = None) -> Callable[[Path], list[str]]:
    def prepare(folder: Path) -> list[str]:
        write_inputs(folder)
        if setup is not None:
            setup(folder)
        return [PYTHON, *args]
    return prepare


def trained(folder: Path) -> None:
    """A finished experiment `t` with one run `r` (for the synthesize.py and --resume cases)."""
    subprocess.run([PYTHON, str(ROOT / "main.py"), "t", "--quiet", "-j", "1"], cwd=folder, capture_output=True,
                   check=True, timeout=TIMEOUT)


def damaged_last(content: bytes | None) -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        trained(folder)
        last = folder / "experiments" / "t" / "r" / "models" / "last"
        last.unlink()
        if content is None:
            last.mkdir()
        else:
            last.write_bytes(content)
    return setup


def text_best(folder: Path) -> None:
    trained(folder)
    (folder / "experiments" / "t" / "r" / "models" / "best").write_text("not a model\n", encoding="utf-8")


def dqn(config: dict) -> dict:
    return config["presets"]["DQN"]["parameters"]


MAIN, SYNTHESIZE = str(ROOT / "main.py"), str(ROOT / "synthesize.py")
BAD_INPUTS: dict[str, Callable[[Path], list[str]]] = {
    "config not UTF-8": file_text("config.json", '{"settings": {}}'.encode("utf-16")),
    "training file in Latin-1": file_text("training.json", '[{"id": "é"}]'.encode("latin-1")),
    "malformed JSON": file_text("training.json", b'[{"id": 1,'),
    "JSON nested 100,000 deep": file_text("training.json", b"[" * 100_000 + b"]" * 100_000),
    "integer of 5,000 digits": lr_text("9" * 5000),
    "NaN learning rate": lr_text("NaN"),
    "Infinity learning rate": lr_text("Infinity"),
    "1e400 learning rate": lr_text("1e400"),
    "duplicate key": lr_text('0.001, "lr": 0.1'),
    "unknown key": config_with(lambda c: dqn(c).update(hsize=8)),
    "wrong type": config_with(lambda c: dqn(c).update(lr="0.001")),
    "lr above 1": config_with(lambda c: dqn(c).update(lr=1e300)),
    "reward_scale 1e300": config_with(lambda c: dqn(c).update(reward_scale=1e300)),
    "replay of 10^9 rows": config_with(lambda c: dqn(c).update(replay_buffer_size=10**9)),
    "episodes 2^63": run_with(lambda r: r.update(episodes=2**63)),
    "episodes 10^12": run_with(lambda r: r.update(episodes=10**12)),
    "seed 2^64": run_with(lambda r: r.update(seed=2**64)),
    "alternate_freq 10^30": run_with(lambda r: r["targets"].update(alternate_freq=10**30)),
    "run id of 400 digits": file_text("training.json", b'[{"id": ' + b"7" * 400 + b', "algo": "DQN", "episodes": 4}]'),
    "run id of 300 characters": run_with(lambda r: r.update(id="r" * 300)),
    "10^12 random targets": run_with(lambda r: r.update(targets={"values": 10**12})),
    "unknown preset": run_with(lambda r: r.update(algo="A2C")),
    "NAME that is a file": command(MAIN, "afile", "-f", "--quiet", setup=lambda f: (
        (f / "experiments").mkdir(), (f / "experiments" / "afile").touch())),
    "NAME that is a symlink": command(MAIN, "link", "-f", "--quiet", setup=lambda f: (
        (f / "experiments").mkdir(), (f / "elsewhere").mkdir(),
        (f / "experiments" / "link").symlink_to(f / "elsewhere"))),
    "NAME of 300 characters": command(MAIN, "n" * 300, "--quiet"),
    "runs/NAME exists without -f": command(MAIN, "tb", "--quiet",
                                           setup=lambda f: (f / "runs" / "tb").mkdir(parents=True)),
    "--resume with other -t": command(MAIN, "t", "--resume", "--quiet", "-t", "other.json", setup=lambda f: (
        trained(f), (f / "other.json").write_text(json.dumps([tiny_run("r", "AC", episodes=5)]), encoding="utf-8"))),
    "empty models/last": command(MAIN, "t", "--resume", "--quiet", setup=damaged_last(b"")),
    "random bytes at models/last": command(MAIN, "t", "--resume", "--quiet", setup=damaged_last(os.urandom(4000))),
    "folder at models/last": command(MAIN, "t", "--resume", "--quiet", setup=damaged_last(None)),
    "synthesize.py --target=--1,0,0,0": command(SYNTHESIZE, "t", "r", "--target=--1,0,0,0", setup=trained),
    "synthesize.py absolute NAME": command(SYNTHESIZE, "/tmp", "1", "--target", "1,2,3,4"),
    "synthesize.py text at models/best": command(SYNTHESIZE, "t", "r", "--target", "1,2,3,4", setup=text_best),
    "assembly file /dev/zero": command("-m", "toycorewar", "run", "/dev/zero"),
    "assembly line of 1 MB": command("-m", "toycorewar", "run", "big.s", setup=lambda f: (f / "big.s").write_text(
        "ld " + "x" * 10**6, encoding="utf-8")),
    "assembly not UTF-8": command("-m", "toycorewar", "run", "bad.s", setup=lambda f: (f / "bad.s").write_bytes(
        b"ld %1, r1\xff\n")),
}


def try_bad_input(name: str) -> tuple[str, bool, str]:
    with tempfile.TemporaryDirectory() as folder:
        cwd = Path(folder)
        argv = BAD_INPUTS[name](cwd)
        before = sorted(str(p) for p in (cwd / "experiments").glob("*")) if (cwd / "experiments").exists() else []
        result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
        lines = result.stderr.splitlines()
        after = sorted(str(p) for p in (cwd / "experiments").glob("*")) if (cwd / "experiments").exists() else []
        ok = result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr and after == before
        return name, ok, (lines[0][:100] if lines else f"status {result.returncode}, nothing on stderr")


# -- signals ------------------------------------------------------------------------------------------
def signal_case(program: str, mode: str, which: str) -> tuple[str, bool, str]:
    with tempfile.TemporaryDirectory() as folder:
        cwd = Path(folder)
        write_inputs(cwd, [tiny_run("a", "DQN", episodes=200_000, targets=TARGETS),
                           tiny_run("b", "AC", episodes=200_000)])
        (cwd / "search_spaces.json").write_text((ROOT / "search_spaces.json").read_text(encoding="utf-8"),
                                                encoding="utf-8")
        if program == "parameter_search.py":
            argv = [PYTHON, str(ROOT / "parameter_search.py"), "e", "--quiet"]
            first_log = "experiments/e/001/0000040_Evaluation"
        else:
            argv, first_log = [PYTHON, MAIN, "e", "--quiet", "-j", program[-1]], "experiments/e/a/0000040_Evaluation"
        wait = f"while [ ! -e {first_log} ]; do sleep 0.05; done; sleep 0.3"
        if mode == "background in a script":
            script = f"{shlex.join(argv)} > out.txt 2> err.txt & pid=$!; {wait}; kill -{which} $pid; wait $pid; echo $?"
            shell = subprocess.run(["bash", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)
            status = int(shell.stdout.split()[-1])
            stderr = (cwd / "err.txt").read_text(encoding="utf-8")
        else:
            process = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                       start_new_session=(mode == "own session"))
            deadline = time.monotonic() + TIMEOUT
            while not (cwd / first_log).exists() and time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.05)
            time.sleep(0.3)
            process.send_signal(getattr(__import__("signal"), which))
            _, stderr = process.communicate(timeout=TIMEOUT)
            status = process.returncode
        ok = status == 130 and "Traceback" not in stderr
        detail = f"status {status}"
        if program != "parameter_search.py" and ok:
            import torch
            summary = json.loads((cwd / "experiments" / "e" / "summary.json").read_text(encoding="utf-8"))
            for entry in summary:
                if entry["status"] == "interrupted":
                    path = cwd / "experiments" / "e" / str(entry["id"]) / "models" / "last"
                    last = torch.load(path, weights_only=True)
                    ok = ok and last["episode"] == entry["episodes"]
        elif ok:
            ok = (cwd / "experiments" / "e" / "trials.csv").is_file()
        return f"{which} to {program}, {mode}", ok, detail


# -- resume ---------------------------------------------------------------------------------------------
def resume_case(algo: str, stop_at: int) -> tuple[str, bool, str]:
    import torch
    from experiment_files import evaluation_logs, without_elapsed_time

    from training.run import train_run

    config = tiny_config()
    if algo == "DQN":
        config["presets"]["DQN"]["parameters"].update(self_imitation=True, greedy_copies=1, temperature=0.05,
                                                      known_rewards=True, effect_size=4)
    run = tiny_run("r", algo, episodes=203, targets=[[0, 10, 30, 250], [4, 14, 18, 238]])
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)

        def train(name: str, **options) -> object:
            return train_run(run, config, str(root / name), str(root / f"tb-{name}"), seed=3, **options)

        def outcome(name: str) -> tuple:
            logs = {k: without_elapsed_time(v) for k, v in evaluation_logs(root / name).items()}
            models = [torch.load(root / name / "models" / m, weights_only=True) for m in ("best", "last")]
            return logs, [m["network"] for m in models], models[1]["episode"]

        train("unbroken")
        stopped = train("stopped", stop_after=stop_at)
        if stopped.status == "interrupted":
            train("stopped", resume=True)
        (logs, models, episode), (logs2, models2, episode2) = outcome("unbroken"), outcome("stopped")
        same = (logs == logs2 and episode == episode2 == 203
                and all(a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
                        for a, b in zip(models, models2, strict=True)))
        return f"{algo} stopped at episode {stopped.episodes}", same, f"{len(logs)} logs, {episode2} episodes"


def table(title: str, rows: list[tuple[str, bool, str]]) -> None:
    passed = sum(ok for _, ok, _ in rows)
    print(f"\n{title}: {passed} of {len(rows)}")
    for name, ok, detail in rows:
        if not ok:
            print(f"  FAILED {name}: {detail}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="cases at once (default 2)")
    parser.add_argument("--only", default="inputs,signals,resume", help="tables to make (default all three)")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    print(f"machine: {describe_machine()}")
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        if "inputs" in parts:
            rows = list(pool.map(try_bad_input, BAD_INPUTS))
            table("bad input: exit status 2, one line, nothing left behind", rows)
            print("  kinds tried: " + "; ".join(BAD_INPUTS))
        if "signals" in parts:
            cases = [(program, mode, which) for program in ("main.py -j 1", "main.py -j 2", "parameter_search.py")
                     for mode in ("foreground", "background in a script", "own session")
                     for which in ("SIGINT", "SIGTERM")]
            rows = list(pool.map(lambda case: signal_case(*case), cases))
            table("signals x start modes: exit 130, every checkpoint written", rows)
    if "resume" in parts:
        rows = [resume_case(algo, stop_at) for algo in ("DQN", "AC", "PG") for stop_at in (1, 30, 40, 130, 200, 202)]
        table("interruption points: resumed run identical to the unbroken one", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
