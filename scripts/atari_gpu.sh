#!/usr/bin/env bash
# The paper-scale Atari runs (experiment atari_paper: a2c, softq and soft DQN with the Atari
# preset on five games, 10M agent steps each, three seeds) on a GPU machine, within a fixed time.
#
#   bash scripts/atari_gpu.sh [HOURS] [WORKERS]      (defaults: 24 hours, 4 workers)
#
# Installs TensorFlow with its CUDA libraries into .venv when .venv has no TensorFlow yet (make
# setup alone would install the CPU build), then the rest of the stack, and stops at once when
# TensorFlow sees no GPU. It then trains up to WORKERS runs at a time, sharing the GPU (memory
# grows on demand), until they finish or HOURS pass; the runs, summary.md and curves.png go under
# results/atari_paper/ in the layout of the other experiments (scripts/experiment.py summary
# atari_paper prints the table again). On the time limit the runs get SIGTERM, write a
# checkpoint and stop; running the script again resumes every unfinished run from its checkpoint
# and skips the finished ones. Each soft DQN run holds a 1M-transition frame replay (about 7 GB
# of host memory). Exit status: 0 done or out of time, otherwise the experiment runner's.
set -euo pipefail
cd "$(dirname "$0")/.."
HOURS="${1:-24}"
WORKERS="${2:-4}"
TF_DEFAULT=$(sed -n 's/^TF_SUPPORTED="\(.*\)"$/\1/p' scripts/install_stack.sh | awk '{print $NF}')
test -x .venv/bin/python || python3 -m venv .venv
if ! .venv/bin/python -c "import tensorflow" 2>/dev/null; then
  .venv/bin/pip install -q "tensorflow[and-cuda]~=${TF_DEFAULT}.0"
fi
make setup
if ! .venv/bin/python -c "import sys, tensorflow as tf; sys.exit(not tf.config.list_physical_devices('GPU'))"; then
  echo "atari_gpu.sh: TensorFlow in .venv sees no GPU; install tensorflow[and-cuda] (or fix the" \
    "CUDA driver) and run again." >&2
  exit 2
fi
export TF_FORCE_GPU_ALLOW_GROWTH=true
status=0
timeout --signal=TERM --kill-after=10m "${HOURS}h" \
  .venv/bin/python scripts/experiment.py run atari_paper --workers="$WORKERS" || status=$?
if [ "$status" -eq 124 ]; then
  echo "atari_gpu.sh: ${HOURS} h passed; the unfinished runs were checkpointed: run it again to go on."
  exit 0
fi
exit "$status"
