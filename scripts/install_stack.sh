#!/usr/bin/env bash
# Install softrl_tf and its TensorFlow stack into the Python given as $1 (default: python3).
#
#   scripts/install_stack.sh .venv/bin/python "[atari,dev]"
#
# The order matters:
#   1. TensorFlow 2.21: kept if it is already installed (tensorflow or tensorflow-cpu), otherwise
#      tensorflow-cpu is installed. Never downgraded.
#   2. tf_keras (matching TensorFlow's minor version), tf-agents 0.19.0 and gym 0.23.1 with --no-deps:
#      their own pins (full tensorflow, typing-extensions 4.5, tfp 0.23, pygame, gym<=0.23) would
#      break the stack.
#   3. softrl_tf itself (editable) with the requested extras.
# At the end the TensorFlow version is checked against the one found at the start.
set -euo pipefail
PY=${1:-python3}
EXTRAS=${2:-}
PIP=("$PY" -m pip --disable-pip-version-check)
here=$(cd "$(dirname "$0")/.." && pwd)

tf_version() { "$PY" -c 'import importlib.metadata as m
for d in ("tensorflow", "tensorflow-cpu", "tf-nightly"):
    try:
        print(m.version(d)); break
    except m.PackageNotFoundError:
        pass' 2>/dev/null || true; }

before=$(tf_version)
if [ -z "$before" ]; then
  echo "install_stack: no TensorFlow found; installing tensorflow-cpu 2.21"
  "${PIP[@]}" install -q "tensorflow-cpu>=2.21,<2.22"
else
  echo "install_stack: keeping the installed TensorFlow $before"
fi
tf=$(tf_version)
minor=$(echo "$tf" | cut -d. -f1,2)
case "$minor" in
  2.2[1-9]|2.[3-9]*|[3-9].*) ;;
  *) echo "install_stack: softrl_tf needs TensorFlow >= 2.21, found $tf" >&2; exit 1 ;;
esac

"${PIP[@]}" install -q --no-deps "tf_keras~=${minor}.0" "tf-agents==0.19.0" "gym==0.23.1"
"${PIP[@]}" install -q -c "$here/requirements/constraints.txt" -e "$here$EXTRAS"

after=$(tf_version)
if [ "$after" != "$tf" ]; then
  echo "install_stack: TensorFlow changed from $tf to $after during install; refusing" >&2
  exit 1
fi
"$PY" - <<'PY'
import os
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
import numpy, tensorflow as tf, tf_keras, tf_agents, tensorflow_probability as tfp, gymnasium
print(f"install_stack: ok: tensorflow {tf.__version__}, tf_keras {tf_keras.__version__}, "
      f"tf_agents {tf_agents.__version__}, tfp {tfp.__version__}, gymnasium {gymnasium.__version__}, "
      f"numpy {numpy.__version__}")
PY
