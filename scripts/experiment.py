#!/usr/bin/env python
"""Runs the paper's experiments and summarises them: ``scripts/experiment.py --help``.

A thin shell over :func:`softrl_tf.experiments.cli.main` (its module docstring lists the commands
and exit statuses).
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out

from softrl_tf.experiments.cli import main

if __name__ == "__main__":
    sys.exit(main())
