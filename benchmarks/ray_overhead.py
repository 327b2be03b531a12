"""What running on a Ray cluster without a shared filesystem costs: the bytes each run sends back to the
driver, and the time against the same experiment trained here (docs/ray.md, "What it costs").

    python benchmarks/ray_overhead.py [--runs 1,2] [--episodes 2000] [--nodes 2]

Trains runs `--runs` of training.json (their own presets, `--episodes` each) twice, one run per CPU:
here, in processes (`training.processes.run_in_processes`, one per run), and on a Ray cluster of
`--nodes` worker nodes of one CPU each started on this machine (`ray.cluster_utils.Cluster`, a head
without CPUs where the driver and the collector live). Prints, per way, the wall time from the first
run's start to the last one's end, and for Ray the bytes shipped (every file the workers sent, each time
it changed), per run, beside the size of each run's `models/last`. The cluster's start is timed apart
(it is paid once per cluster, not per experiment).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.host import describe_machine  # noqa: E402


def tasks_for(folder: Path, runs: list[dict], config: dict) -> list[dict]:
    return [{"run_data": run, "config_data": config, "run_dir": str(folder / "experiments" / str(run["id"])),
             "tensorboard_dir": str(folder / "runs" / str(run["id"])), "seed": 0, "quiet": True} for run in runs]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="1,2", help="ids of training.json (default 1,2)")
    parser.add_argument("--episodes", type=int, default=2000, help="episodes per run (default 2000)")
    parser.add_argument("--nodes", type=int, default=2, help="worker nodes of one CPU (default 2)")
    args = parser.parse_args()
    import ray
    from ray.cluster_utils import Cluster

    from training import ray_cluster
    from training.processes import run_in_processes

    config = json.loads((ROOT / "config.json").read_text(encoding="utf-8"))
    wanted = args.runs.split(",")
    runs = [{**run, "episodes": args.episodes} for run in json.loads((ROOT / "training.json").read_text(
        encoding="utf-8")) if str(run["id"]) in wanted]
    print(f"machine: {describe_machine()}")
    print(f"runs {args.runs} of training.json, {args.episodes} episodes each, {len(runs)} at once")
    with tempfile.TemporaryDirectory() as folder:
        here, there = Path(folder) / "here", Path(folder) / "ray"
        started = time.perf_counter()
        local = run_in_processes(tasks_for(here, runs, config), len(runs))
        local_seconds = time.perf_counter() - started

        started = time.perf_counter()
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
        for _ in range(args.nodes):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ray_cluster.connect(cluster.address)
        cluster_seconds = time.perf_counter() - started
        stats: dict = {}
        try:
            started = time.perf_counter()
            remote = ray_cluster.run_on_ray(tasks_for(there, runs, config), cluster.address, stats=stats)
            ray_seconds = time.perf_counter() - started
        finally:
            ray.shutdown()
            cluster.shutdown()
        statuses = sorted({r.status for r in local + remote})
        checkpoints = [(there / "experiments" / str(run["id"]) / "models" / "last").stat().st_size for run in runs]
    extra = ray_seconds - local_seconds
    print(f"statuses: {', '.join(statuses)}")
    print(f"{'way':<34}{'seconds':>10}")
    print(f"{'here, one process per run':<34}{local_seconds:>10.1f}")
    print(f"{'Ray, ' + str(args.nodes) + ' nodes on this machine':<34}{ray_seconds:>10.1f}"
          f"   ({extra:+.1f} s, {100 * extra / local_seconds:+.0f}%)")
    print(f"cluster start (once): {cluster_seconds:.1f} s")
    per_run = stats["shipped_bytes"] / len(runs)
    print(f"shipped: {stats['shipped_bytes'] / 2**20:.2f} MiB in all, {per_run / 2**20:.2f} MiB per run; "
          f"models/last per run: {', '.join(f'{size / 2**20:.2f} MiB' for size in checkpoints)}; "
          f"retries {stats['retries']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
