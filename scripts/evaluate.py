#!/usr/bin/env python
"""Evaluate a softrl_tf SavedModel export: ``scripts/evaluate.py EXPORT_DIR --episodes=10``.

A thin shell over :func:`softrl_tf.evaluate.main` (the ``softrl-evaluate`` command); ``--help``
lists every flag.
"""

import sys

from softrl_tf.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
