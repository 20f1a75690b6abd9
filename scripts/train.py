#!/usr/bin/env python
"""Train a softrl_tf agent: ``python scripts/train.py --agent=softq`` (``--help`` lists every flag).

A thin wrapper over :func:`softrl_tf.training.cli.main`; see its module docstring for the exit
statuses.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out

from softrl_tf.training.cli import main

if __name__ == "__main__":
    sys.exit(main())
