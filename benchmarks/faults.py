"""Faults a user or a job scheduler inflicts, tried on the real commands, counted (docs/guarantees.md, "Reliability").

    python benchmarks/faults.py [--jobs N] [--only inputs,signals,resume,bounds,stops,sweeps] [--bound-seconds S]

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

- *Bounds*: for every bound validation enforces, the largest value it accepts (the field's maximum, or,
  where the run would need more than half of this machine, the largest accepted, found by bisection
  with validation itself), run through `main.py` on the shipped presets: its peak memory (the process's
  resident peak), whether its first evaluation was logged, and how it ended (finished, or stopped by
  SIGINT after `--bound-seconds`, with the seconds until exit).
- *Stops*: SIGINT sent in the middle of long work (an evaluation of 100,000 tasks, a round of expert
  iteration, the drawing of the held-out tiers at MAX_LENGTH 8): the seconds until exit, the exit
  status, and that no evaluation cut short was logged (it is pending in `models/last`).
- *Killed sweeps*: `parameter_search.py` killed with SIGKILL during its first and its second trial,
  then resumed: whether it ends as the sweep never killed (tests/sweeps/test_sweep_killed_resume.py's
  comparison).

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


# -- bounds and stops --------------------------------------------------------------------------------------
def shipped() -> tuple[dict, list[dict]]:
    return (json.loads((ROOT / "config.json").read_text(encoding="utf-8")),
            json.loads((ROOT / "training.json").read_text(encoding="utf-8")))


def accepted(config: dict, run: dict) -> bool:
    from training.config import ConfigError, parse_config, parse_training
    try:
        parse_training([run], parse_config(config))
        return True
    except ConfigError:
        return False


def largest_accepted(make: Callable[[int], tuple[dict, dict]], high: int) -> int:
    """The largest value v ≤ high with make(v) accepted by validation (bisection; 1 is assumed accepted)."""
    if accepted(*make(high)):
        return high
    low = 1
    while high - low > max(1, low // 100):  # within 1%
        middle = (low + high) // 2
        low, high = (middle, high) if accepted(*make(middle)) else (low, middle)
    return low


def preset_case(algo: str, episodes: int, parameters: dict | None = None, settings: dict | None = None,
                run: dict | None = None) -> tuple[dict, dict]:
    """The shipped config and run 1 of training.json with `algo`'s preset, changed as given."""
    config, runs = shipped()
    config["presets"][algo]["parameters"].update(parameters or {})
    config["settings"].update(settings or {})
    return config, {**runs[0], "algo": algo, "episodes": episodes, **(run or {})}


LONG = 10**6  # episodes of a bound's run: every one is stopped by SIGINT, which measures its stop too


def bound_cases() -> list[tuple[str, Callable[[int], tuple[dict, dict]], int]]:
    """(what, make(value) -> (config, run), the field's maximum)."""
    import numpy as np
    rng_targets = np.random.default_rng(0).integers(0, 256, (100_000, 4)).tolist()
    return [
        ("targets: 100,000 fixed targets, AC", lambda v: preset_case(
            "AC", LONG, run={"targets": {"values": rng_targets[:v], "alternate_freq": 0}}), 100_000),
        ("settings.EVAL_TARGETS, AC", lambda v: preset_case("AC", LONG, settings={"EVAL_TARGETS": v},
                                                             run={"targets": None}), 100_000),
        ("settings.toy_corewar: 16 registers, 256 values, MAX_LENGTH 64 (12,545 actions), DQN", machine_case, 1),
        ("DQN num_envs", lambda v: preset_case("DQN", LONG, {"num_envs": v}), 65_536),
        ("DQN batch_size (num_envs 8,192, learning from the first step)", lambda v: preset_case(
            "DQN", LONG, {"batch_size": v, "num_envs": 8192, "learning_starts": 0}), 65_536),
        ("DQN h_size with lstm_layers 8", lambda v: preset_case("DQN", LONG, {"h_size": v, "middle_size": v,
                                                                             "lstm_layers": 8}), 4096),
        ("Generalist middle_size (afterstate)", lambda v: preset_case("Generalist", LONG, {"middle_size": v}), 4096),
        ("Generalist effect_size (afterstate)", lambda v: preset_case("Generalist", LONG, {"effect_size": v}), 4096),
        ("DQN replay_buffer_size", lambda v: preset_case("DQN", LONG, {"replay_buffer_size": v}), 10**8),
        ("AC num_envs", lambda v: preset_case("AC", LONG, {"num_envs": v}), 65_536),
        ("AC n_steps", lambda v: preset_case("AC", LONG, {"n_steps": v}), 4096),
        ("run search_budget (guided search at every evaluation)", lambda v: preset_case(
            "Generalist", LONG, run={"search_budget": v}), 10**7),
        ("Generalist search_tasks, search_expansions (expert iteration)", lambda v: preset_case(
            "Generalist", LONG, {"search_every": 1, "search_tasks": 100_000, "search_expansions": v}), 10**7),
    ]


def run_main(cwd: Path, config: dict, run: dict, seconds: float, stop_when: Callable[[Path], bool] | None = None
             ) -> dict:
    """main.py on (config, run) in `cwd`: SIGINT once `stop_when(run folder)` holds (or after `seconds`);
    its exit status, peak resident memory (MiB), seconds in all, seconds from SIGINT to exit and, of
    these, the seconds writing models/last (from when its temporary file appears), its MiB, logs."""
    import signal
    write_inputs(cwd, [run], config)
    started = time.monotonic()
    with (cwd / "stderr.txt").open("w", encoding="utf-8") as stderr:
        process = subprocess.Popen([PYTHON, MAIN, "e", "--quiet", "-j", "1"], cwd=cwd, stdout=subprocess.DEVNULL,
                                   stderr=stderr)
    run_dir, signalled, peak, saving = cwd / "experiments" / "e" / str(run["id"]), None, 0, None
    while True:
        if signalled is not None and saving is None and (run_dir / "models" / ".last.tmp").exists():
            saving = time.monotonic()
        # The resident peak of the process itself (VmHWM: its own memory since its exec; the rusage of a
        # child started from this process would count this process's own peak, inherited at the fork).
        peak = max(peak, resident_peak(process.pid))
        pid, wait_status, _ = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        due = time.monotonic() - started > seconds or (stop_when is not None and stop_when(run_dir))
        if signalled is None and due:
            process.send_signal(signal.SIGINT)
            signalled = time.monotonic()
        time.sleep(0.02)
    ended = time.monotonic()
    process.returncode = os.waitstatus_to_exitcode(wait_status)
    lines = (cwd / "stderr.txt").read_text(encoding="utf-8").strip().splitlines()
    logs = sorted(p.name for p in run_dir.glob("*_Evaluation")) if run_dir.is_dir() else []
    last = run_dir / "models" / "last"
    return {"status": process.returncode, "peak_mib": peak / 2**20, "seconds": ended - started,
            "stop_seconds": None if signalled is None else ended - signalled,
            "saving_seconds": None if saving is None else ended - saving,
            "last_mib": last.stat().st_size / 2**20 if last.is_file() else None, "logs": logs, "stderr": lines[-1:]}


def resident_peak(pid: int) -> int:
    """The resident peak (VmHWM) of process `pid` in bytes, 0 once it has ended."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def machine_case(value: int) -> tuple[dict, dict]:
    """The largest machine validation accepts: 16 registers, 256 values, MAX_LENGTH 64 (12,545 actions)."""
    config, run = preset_case("DQN", LONG, run={"targets": None})  # random targets of 16 registers
    for preset in config["presets"].values():  # instruction_cost × MAX_LENGTH 64 must stay below 1
        preset["parameters"]["instruction_cost"] = min(0.01, preset["parameters"].get("instruction_cost", 0.0))
    config["settings"]["toy_corewar"].update(NUM_REGISTERS=16, N_VALS=256, MAX_LENGTH=64, N_TARGETS=16,
                                             NUM_ACTIONS=16 * 256 + 16**2 + 2 * 16**3 + 1)
    return config, run


def bound_case(case: tuple[str, Callable[[int], tuple[dict, dict]], int], seconds: float) -> tuple[str, bool, str]:
    from agents.machine_memory import physical_memory
    what, make, maximum = case
    value = largest_accepted(make, maximum)
    config, run = make(value)
    with tempfile.TemporaryDirectory() as folder:
        outcome = run_main(Path(folder), config, run, seconds)
    half = (physical_memory() or 0) / 2**21
    peak = outcome["peak_mib"]
    ended = "finished" if outcome["stop_seconds"] is None else \
        f"stopped after {seconds:.0f} s, exit {outcome['stop_seconds']:.1f} s after SIGINT" + saving_text(outcome)
    ok = outcome["status"] in (0, 130) and peak is not None and peak <= half and \
        (outcome["stop_seconds"] is None or outcome["stop_seconds"] <= 2.0)
    value_text = "max" if value == maximum else f"{value:,} (largest accepted of {maximum:,})"
    detail = (f"value {value_text}: peak {peak:,.0f} MiB (half the machine: {half:,.0f}), exit {outcome['status']}, "
              f"{ended}, first evaluation {'logged' if outcome['logs'] else 'not reached'}"
              + (f"; stderr: {outcome['stderr'][0][:120]}" if outcome["stderr"] else ""))
    return what, ok, detail


def saving_text(outcome: dict) -> str:
    """The part of a stop from the moment models/last began to be written (seen when that took over the
    20 ms between two looks) to the exit: writing it, then main.py's summary and exit."""
    if outcome["saving_seconds"] is None or outcome["last_mib"] is None:
        return ""
    return (f" (of which {outcome['saving_seconds']:.1f} s from the start of writing models/last, "
            f"{outcome['last_mib']:,.0f} MiB)")


def stop_cases() -> list[tuple[str, dict, dict, Callable[[Path], bool]]]:
    """(what, config, run, when to send SIGINT)."""
    config, run = preset_case("AC", 1000, run={"targets": None})
    config["settings"]["EVAL_TARGETS"] = 100_000
    in_evaluation = ("mid-evaluation (AC, 100,000 held-out targets)", config, run,
                     lambda d: (d / "models").exists() and not (d / "0000000_Evaluation").exists())
    config2, run2 = preset_case("Generalist", 100_000, {"search_every": 1, "search_tasks": 20_000})
    start = {}

    def in_round(d: Path) -> bool:  # the first round starts at episode 1, just after the first log
        if (d / "0000000_Evaluation").exists():
            start.setdefault("t", time.monotonic())
        return "t" in start and time.monotonic() - start["t"] > 2.0

    generalist = json.loads((ROOT / "examples" / "generalist_training.json").read_text(encoding="utf-8"))[0]
    config3, run3 = preset_case("Generalist", 1000, settings={"toy_corewar": {
        **shipped()[0]["settings"]["toy_corewar"], "MAX_LENGTH": 8}}, run={**generalist, "episodes": 1000})
    begun = {}

    def in_draw(d: Path) -> bool:  # the tiers of MAX_LENGTH 8 take minutes to draw, before any file
        if d.parent.is_dir():
            begun.setdefault("t", time.monotonic())
        return "t" in begun and time.monotonic() - begun["t"] > 5.0

    return [in_evaluation, ("mid-round of expert iteration (Generalist, 20,000 searches a round)", config2, run2,
                            in_round),
            ("mid-draw of the held-out tiers (Generalist, MAX_LENGTH 8)", config3, run3, in_draw)]


def stop_case(case: tuple[str, dict, dict, Callable[[Path], bool]]) -> tuple[str, bool, str]:
    import torch
    what, config, run, when = case
    with tempfile.TemporaryDirectory() as folder:
        outcome = run_main(Path(folder), config, run, TIMEOUT, when)
        last_path = Path(folder) / "experiments" / "e" / str(run["id"]) / "models" / "last"
        pending = torch.load(last_path, weights_only=True)["monitor"].get("pending") if last_path.exists() else None
    latency = outcome["stop_seconds"]
    ok = outcome["status"] == 130 and latency is not None and latency <= 2.0
    detail = (f"exit {outcome['status']} {latency:.2f} s after SIGINT{saving_text(outcome)}" if latency is not None
              else "never signalled")
    detail += f", pending evaluations {pending}" if pending else ", nothing pending"
    return what, ok, detail + f", logs {outcome['logs']}"


def killed_sweep_case(point: str) -> tuple[str, bool, str]:
    sys.path.insert(0, str(ROOT / "tests" / "sweeps"))
    import test_sweep_killed_resume as sweeps
    from sweep_files import run_search, write_sweep_inputs
    with tempfile.TemporaryDirectory() as folder:
        unbroken, killed = Path(folder) / "unbroken", Path(folder) / "killed"
        write_sweep_inputs(unbroken, space=sweeps.SPACE)
        run_search(unbroken, "k", *sweeps.sweep_args())
        write_sweep_inputs(killed, space=sweeps.SPACE)
        sweeps.kill_when(killed, sweeps.KILL_POINTS[point])
        resumed = run_search(killed, "k", "--resume")
        same = resumed.returncode == 0 and sweeps.trial_outcome(killed, "k") == sweeps.trial_outcome(unbroken, "k")
    return f"SIGKILL {point}, then --resume", same, f"resume exit {resumed.returncode}"


def table(title: str, rows: list[tuple[str, bool, str]], every: bool = False) -> None:
    """The count that passed, and each row that failed (with `every`, each row)."""
    passed = sum(ok for _, ok, _ in rows)
    print(f"\n{title}: {passed} of {len(rows)}", flush=True)
    for name, ok, detail in rows:
        if every or not ok:
            print(f"  {'ok    ' if ok else 'FAILED'} {name}: {detail}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="cases at once (default 2)")
    parser.add_argument("--only", default="inputs,signals,resume,bounds,stops,sweeps",
                        help="tables to make (default all six)")
    parser.add_argument("--bound-seconds", type=float, default=120.0,
                        help="a bound's run is stopped by SIGINT after this long (default 120)")
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
    if "bounds" in parts:  # one at a time: each may take much of the machine
        rows = [bound_case(case, args.bound_seconds) for case in bound_cases()]
        table("largest accepted value of every bound: runs, peak memory within half the machine", rows, every=True)
    if "stops" in parts:
        rows = [stop_case(case) for case in stop_cases()]
        table("SIGINT in the middle of long work: exit 130 within 2 s, nothing half logged", rows, every=True)
    if "sweeps" in parts:
        rows = [killed_sweep_case(point) for point in ("in-trial-1", "in-trial-2")]
        table("sweeps killed with SIGKILL and resumed: equal to the unbroken sweep", rows, every=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
