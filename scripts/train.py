#!/usr/bin/env python
"""Train a softrl_tf agent: ``python scripts/train.py --agent=softq`` (``--help`` lists every flag).

A thin wrapper over :func:`softrl_tf.train_cli.main`; see its module docstring for the exit
statuses.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out

try:
    from softrl_tf.train_cli import main
except KeyboardInterrupt:  # Ctrl-C while TensorFlow loads: nothing was written yet
    sys.stderr.write("train.py: SIGINT received while starting: stopped; nothing was written.\n")
    sys.exit(130)

if __name__ == "__main__":
    sys.exit(main())
