#!/usr/bin/env python
"""Plot learning curves from training runs: ``scripts/plot.py runs/ --out curves.png``.

A thin shell over :func:`softrl_tf.results.plot.main` (the ``softrl-plot`` command); ``--help``
lists every flag. It does not import TensorFlow.
"""

import sys

from softrl_tf.results.plot import main

if __name__ == "__main__":
    sys.exit(main())
