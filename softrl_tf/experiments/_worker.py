"""Worker process of the experiment runner: trains one run and exits.

``python -m softrl_tf.experiments._worker --results-dir DIR --threads N '<RunSpec as JSON>'``.
Exit status: 0 finished, 3 interrupted (a checkpoint was written), 1 failed; the outcome is also
in the run's ``run.json`` (see :mod:`softrl_tf.experiments.runner`).
"""

from __future__ import annotations

import argparse
import json
import sys

import softrl_tf  # noqa: F401 - sets TF_USE_LEGACY_KERAS before TensorFlow loads

import tensorflow as tf

EXIT_CODES = {"finished": 0, "skipped": 0, "interrupted": 3}


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="softrl_tf.experiments._worker")
    parser.add_argument("--results-dir", required=True)
    parser.add_argument("--threads", type=int, default=0, help="TensorFlow threads; 0: default.")
    parser.add_argument("spec", help="the RunSpec as JSON")
    args = parser.parse_args(argv)
    if args.threads > 0:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    from softrl_tf.experiments.runner import execute_run, spec_from_dict

    record = execute_run(spec_from_dict(json.loads(args.spec)), args.results_dir)
    if record.message:
        print(f"{record.name}: {record.status}: {record.message}", file=sys.stderr)
    return EXIT_CODES.get(record.status, 1)


if __name__ == "__main__":
    sys.exit(main())
