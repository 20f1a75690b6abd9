"""The experiments' command line (``scripts/experiment.py``): run, summarise, report.

    scripts/experiment.py list
    scripts/experiment.py run entropy_returns --workers=2          # results/entropy_returns/
    scripts/experiment.py run all --workers=2
    scripts/experiment.py run soft_dqn --quick --results-dir=/tmp/quick
    scripts/experiment.py summary entropy_returns
    scripts/experiment.py report                                   # results/README.md

``run`` trains only what is not finished (an interrupted run resumes from its checkpoint), then
prints and saves the summary table and the figure. Ctrl-C stops the workers after a checkpoint;
run the same command again to continue. ``report`` trains nothing: it redraws every summary and
figure from the committed files (:func:`softrl_tf.experiments.registry.redraw`) and writes
``<results-dir>/README.md``. Exit status: 0 when every run finished, 1 when a run failed, 130 when
interrupted, 2 on bad input.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from softrl_tf.experiments import registry, summary
from softrl_tf.experiments.runner import StaleResultError


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    parser = argparse.ArgumentParser(
        prog="experiment.py", description="Run and summarise the paper's experiments."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="List the experiments and their runs.")
    report = commands.add_parser(
        "report",
        help="Redraw the summaries and figures from the results (no training) and write "
        "<results-dir>/README.md.",
    )
    report.add_argument("--results-dir", default="results", help="Default: %(default)s.")
    for name, text in (("run", "Run an experiment (or all)."), ("summary", "Print a summary.")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("experiment", help="An experiment name, or 'all'.")
        sub.add_argument("--results-dir", default="results", help="Default: %(default)s.")
        sub.add_argument(
            "--quick", action="store_true", help="The tiny version (smoke test; use a temp dir)."
        )
        if name == "run":
            sub.add_argument(
                "--workers",
                type=int,
                default=1,
                help="Parallel training processes; 0 trains in this process (default: 1).",
            )
            sub.add_argument(
                "--only", nargs="+", metavar="TEXT", help="Only runs whose name contains TEXT."
            )
            sub.add_argument("--no-figure", action="store_true", help="Skip curves.png.")
    return parser


def _last_records(results_dir: str, experiment, quick: bool) -> set[str]:
    """The statuses in the run.json files of ``experiment``'s runs."""
    import json
    import os

    from softrl_tf.experiments.runner import RUN_JSON, run_dir

    statuses = set()
    for spec in experiment.runs(quick=quick):
        path = os.path.join(run_dir(results_dir, spec), RUN_JSON)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                statuses.add(json.load(f).get("status"))
    return statuses


def _names(text: str) -> list[str]:
    if text == "all":
        return list(registry.EXPERIMENTS)
    registry.get_experiment(text)
    return [text]


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    command = shlex.join(["scripts/experiment.py", *(sys.argv[1:] if argv is None else argv)])
    try:
        if args.command == "list":
            listed = {**registry.EXPERIMENTS, **registry.LARGE_EXPERIMENTS}
            for name, experiment in listed.items():
                if experiment.kind == "numeric":
                    print(f"{name}: {experiment.title} (numeric, seeds {experiment.seeds})")
                    continue
                runs = experiment.runs()
                large = name in registry.LARGE_EXPERIMENTS
                by_name = ", by name only: not in 'all'" if large else ""
                print(f"{name}: {experiment.title} ({len(runs)} runs{by_name})")
                for spec in runs:
                    print(f"  {spec.name}: {spec.agent}, {spec.total_steps:,} steps")
            return 0
        if args.command == "report":
            from softrl_tf.experiments import report

            for path in registry.redraw(args.results_dir):
                print("wrote", path)
            print("wrote", report.write_readme(args.results_dir))
            return 0
        names = _names(args.experiment)
        status = 0
        for name in names:
            experiment = registry.get_experiment(name)
            if args.command == "summary":
                if experiment.kind == "numeric":
                    import os

                    with open(os.path.join(args.results_dir, name, "summary.md")) as f:
                        print(f.read())
                else:
                    print(summary.summarize(experiment, args.results_dir, quick=args.quick)[1])
                continue
            text = registry.run(
                name,
                args.results_dir,
                workers=args.workers,
                quick=args.quick,
                only=args.only,
                figure=not args.no_figure,
                command=command,
            )
            print(text)
            if experiment.kind == "training":
                records = _last_records(args.results_dir, experiment, args.quick)
                if "interrupted" in records:
                    return 130
                if records & {"failed", "running"}:
                    status = 1
        return status
    except (ValueError, StaleResultError, FileNotFoundError) as error:
        print(f"experiment.py: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
