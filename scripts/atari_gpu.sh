#!/usr/bin/env bash
# The paper-scale Atari runs (experiment atari_paper: a2c, softq and soft DQN with the Atari
# preset on five games, 10M agent steps each, three seeds) on a GPU machine, within a fixed time.
#
#   bash scripts/atari_gpu.sh [HOURS] [WORKERS]      (defaults: 24 hours, 4 workers)
#
# Sets up .venv (make setup) if needed, trains up to WORKERS runs at a time until they finish or
# HOURS pass; the runs, summary.md and curves.png go under results/atari_paper/ in the layout of
# the other experiments (scripts/experiment.py summary atari_paper prints the table again). On the time limit the runs get SIGTERM, write a checkpoint and stop; running
# the script again resumes every unfinished run from its checkpoint and skips the finished ones.
# Each soft DQN run holds a 1M-transition frame replay (about 7 GB of host memory).
set -euo pipefail
cd "$(dirname "$0")/.."
HOURS="${1:-24}"
WORKERS="${2:-4}"
make setup
status=0
timeout --signal=TERM --kill-after=10m "${HOURS}h" \
  .venv/bin/python scripts/experiment.py run atari_paper --workers="$WORKERS" || status=$?
if [ "$status" -eq 124 ]; then
  echo "atari_gpu.sh: ${HOURS} h passed; the unfinished runs were checkpointed: run it again to go on."
fi
