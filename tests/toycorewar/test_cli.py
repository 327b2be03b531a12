"""`python -m toycorewar run FILE.s [--init A,B,C,D]`, run as a user runs it (docs/reference.md §1)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "target_0_10_30_250.s"
LINE = re.compile(r"^(?P<label>\S.*?)\s+\[(?P<registers>\d+(?:, \d+)*)\]$")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "toycorewar", "run", *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


def trace(stdout: str) -> list[tuple[str, list[int]]]:
    """Each output line as (label, registers); every line must show registers as `[a, b, c, d]`."""
    rows = []
    for line in stdout.splitlines():
        match = LINE.match(line)
        assert match, f"line without registers: {line!r}"
        rows.append((match["label"], [int(r) for r in match["registers"].split(", ")]))
    return rows


def instruction_rows(stdout: str) -> list[tuple[str, list[int]]]:
    return [row for row in trace(stdout) if row[0] not in ("start", "final")]


def write(tmp_path: Path, text: str, name: str = "program.s") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def assert_one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_example_file_reaches_its_target():
    result = run_cli(EXAMPLE)
    assert result.returncode == 0, result.stderr
    assert instruction_rows(result.stdout) == [
        ("ld %6, r4", [0, 0, 0, 6]),
        ("sub r1, r4, r4", [0, 0, 0, 250]),
        ("ld %10, r2", [0, 10, 0, 250]),
        ("ld %15, r3", [0, 10, 15, 250]),
        ("add r3, r3, r3", [0, 10, 30, 250]),
        ("stop", [0, 10, 30, 250]),
    ]
    assert trace(result.stdout)[-1] == ("final", [0, 10, 30, 250])


def test_prints_one_line_per_instruction_then_the_final_registers(tmp_path):
    path = write(tmp_path, "# double and wrap\n\nLD %19,R1\nadd r1, r1, r2   # 38\nst r2, r4\n")
    result = run_cli(path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert instruction_rows(result.stdout) == [
        ("ld %19, r1", [19, 0, 0, 0]),
        ("add r1, r1, r2", [19, 38, 0, 0]),
        ("st r2, r4", [19, 38, 0, 38]),
    ]
    assert trace(result.stdout)[-1] == ("final", [19, 38, 0, 38])


def test_init_sets_the_starting_registers(tmp_path):
    path = write(tmp_path, "add r1, r2, r3\nsub r4, r2, r4\n")
    result = run_cli(path, "--init", "200,100,7,3")
    assert result.returncode == 0, result.stderr
    # 200 + 100 = 44 (mod 256); 3 - 100 = 159 (mod 256)
    assert instruction_rows(result.stdout) == [("add r1, r2, r3", [200, 100, 44, 3]),
                                               ("sub r4, r2, r4", [200, 100, 44, 159])]
    assert trace(result.stdout)[-1] == ("final", [200, 100, 44, 159])


def test_instructions_after_stop_are_not_run(tmp_path):
    path = write(tmp_path, "ld %1, r1\nstop\nld %2, r2\n")
    result = run_cli(path)
    assert result.returncode == 0, result.stderr
    assert instruction_rows(result.stdout) == [("ld %1, r1", [1, 0, 0, 0]), ("stop", [1, 0, 0, 0])]
    assert trace(result.stdout)[-1] == ("final", [1, 0, 0, 0])


def test_empty_program_prints_the_initial_registers_as_final(tmp_path):
    result = run_cli(write(tmp_path, "# nothing\n"), "--init", "1,2,3,4")
    assert result.returncode == 0, result.stderr
    assert instruction_rows(result.stdout) == []
    assert trace(result.stdout)[-1] == ("final", [1, 2, 3, 4])


def test_malformed_line_is_one_line_error_naming_file_and_line(tmp_path):
    path = write(tmp_path, "# comment\n\nld %25, r1\n")
    line = assert_one_line_error(run_cli(path))
    assert str(path) in line
    assert "line 3: 'ld %25, r1': value 25 is out of range 0..19" in line


def test_program_too_long_is_one_line_error(tmp_path):
    line = assert_one_line_error(run_cli(write(tmp_path, "ld %1, r1\n" * 6)))
    assert "line 6" in line and "longer than 5" in line


def test_missing_file_is_one_line_error(tmp_path):
    missing = tmp_path / "nowhere.s"
    line = assert_one_line_error(run_cli(missing))
    assert str(missing) in line


def test_binary_file_is_one_line_error(tmp_path):
    path = tmp_path / "binary.s"
    path.write_bytes(b"\xff\xfe\x00ld")
    assert str(path) in assert_one_line_error(run_cli(path))


@pytest.mark.parametrize(("init", "reason"), [
    ("1,2,3", "expected 4 integers"),
    ("1,2,3,4,5", "expected 4 integers"),
    ("a,b,c,d", "expected 4 integers"),
    ("1,2,3,256", "256 is out of range 0..255"),
    ("-1,0,0,0", "-1 is out of range 0..255"),
])
def test_bad_init_is_one_line_error(tmp_path, init, reason):
    line = assert_one_line_error(run_cli(EXAMPLE, f"--init={init}"))
    assert "--init" in line and reason in line


def test_missing_file_argument_is_one_line_usage_error():
    result = subprocess.run([sys.executable, "-m", "toycorewar", "run"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert "error" in assert_one_line_error(result)


def test_a_file_without_end_is_refused_without_being_read_whole():
    line = assert_one_line_error(run_cli("/dev/zero"))
    assert "/dev/zero" in line and "larger than 64 KiB" in line


def test_a_bad_line_of_a_megabyte_is_quoted_in_a_few_dozen_characters(tmp_path):
    path = write(tmp_path, "ld %1, r1\nld " + "x" * 60_000 + "\n")
    line = assert_one_line_error(run_cli(path))
    assert "line 2" in line and len(line) < 300, line[:300]


def test_a_closed_pipe_ends_the_command_quietly():
    result = subprocess.run(["bash", "-c", f"{sys.executable} -m toycorewar run {EXAMPLE} | head -0"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.stderr == ""
