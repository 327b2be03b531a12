"""`--ray ADDRESS` hands the trials to training.ray_cluster; without it nothing imports Ray, and with an
address where no cluster answers the sweep stops before anything is written."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sweep_files import ROOT, TIMEOUT, tiny_sweep_args, write_sweep_inputs

import parameter_search


def test_a_sweep_without_ray_never_imports_ray(tmp_path):
    write_sweep_inputs(tmp_path)
    script = ("import sys; import parameter_search; "
              f"status = parameter_search.main({['plain', '--quiet', *tiny_sweep_args('--budget', '1')]!r}); "
              "print('ray imported' if 'ray' in sys.modules else 'no ray'); sys.exit(status)")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                            timeout=TIMEOUT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "no ray"
    assert (tmp_path / "experiments" / "plain" / "001").is_dir()


def test_ray_at_an_address_where_nothing_answers_exits_2_before_anything_is_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_sweep_inputs(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        parameter_search.main(["far", *tiny_sweep_args("--budget", "1"), "--ray", "127.0.0.1:1"])
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and len(err.splitlines()) == 1, err
    assert "--ray" in err
    assert not (tmp_path / "experiments").exists()
