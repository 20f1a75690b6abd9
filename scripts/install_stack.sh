#!/usr/bin/env bash
# Install softrl_tf and its TensorFlow stack into the Python given as $1 (default: python3).
#
#   scripts/install_stack.sh .venv/bin/python "[atari,dev]"
#   scripts/install_stack.sh .venv/bin/python "[atari,dev,notebooks,distributed]"   # make setup
#   SOFTRL_TF_VERSION=2.19 scripts/install_stack.sh .venv-tf-oldest/bin/python "[dev]"
#
# The order matters:
#   1. TensorFlow (tensorflow or tensorflow-cpu) in TF_SUPPORTED: kept if installed, never replaced
#      or downgraded; else tensorflow-cpu $SOFTRL_TF_VERSION (default TF_DEFAULT) is installed.
#   2. tf_keras (matching TensorFlow's minor version), tf-agents 0.19.0 and gym 0.23.1 with --no-deps:
#      their own pins (full tensorflow, typing-extensions 4.5, tfp 0.23, pygame, gym<=0.23) would
#      break the stack.
#   3. softrl_tf itself (editable) with the requested extras, under requirements/constraints.txt
#      (its tensorflow-probability pin works with every version in TF_SUPPORTED).
# At the end the TensorFlow version is checked against the one found at the start.
set -euo pipefail

# The TensorFlow versions softrl_tf supports (README, section Install); the newest is the default.
TF_SUPPORTED="2.19 2.20 2.21"
TF_DEFAULT=${TF_SUPPORTED##* }

PY=${1:-python3}
EXTRAS=${2:-}
PIP=("$PY" -m pip --disable-pip-version-check)
here=$(cd "$(dirname "$0")/.." && pwd)
wanted=${SOFTRL_TF_VERSION:-}

fail() { echo "install_stack: $*" >&2; exit 1; }
supported() { case " $TF_SUPPORTED " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
tf_version() { "$PY" -c 'import importlib.metadata as m
for d in ("tensorflow", "tensorflow-cpu", "tf-nightly"):
    try:
        print(m.version(d)); break
    except m.PackageNotFoundError:
        pass' 2>/dev/null || true; }

if [ -n "$wanted" ] && ! supported "$wanted"; then
  fail "SOFTRL_TF_VERSION=$wanted is not a supported TensorFlow version; set it to one of" \
    "${TF_SUPPORTED// /, } or unset it."
fi
before=$(tf_version)
minor=$(echo "$before" | cut -d. -f1,2)
if [ -z "$before" ]; then
  minor=${wanted:-$TF_DEFAULT}
  echo "install_stack: no TensorFlow found; installing tensorflow-cpu $minor"
  "${PIP[@]}" install -q "tensorflow-cpu~=${minor}.0"
elif ! supported "$minor"; then
  fail "softrl_tf supports TensorFlow ${TF_SUPPORTED// /, }, but $before is installed; install one of" \
    "those (or use a fresh virtualenv) and rerun."
elif [ -n "$wanted" ] && [ "$wanted" != "$minor" ]; then
  fail "SOFTRL_TF_VERSION=$wanted asks for TensorFlow $wanted, but $before is installed and is" \
    "never replaced; unset SOFTRL_TF_VERSION to keep it, or use a fresh virtualenv."
else
  echo "install_stack: keeping the installed TensorFlow $before"
fi
tf=$(tf_version)

"${PIP[@]}" install -q --no-deps "tf_keras~=${minor}.0" "tf-agents==0.19.0" "gym==0.23.1"
"${PIP[@]}" install -q -c "$here/requirements/constraints.txt" -e "$here$EXTRAS"

after=$(tf_version)
if [ "$after" != "$tf" ]; then
  fail "TensorFlow changed from $tf to $after during install; refusing."
fi
"$PY" - <<'PY'
import os
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
import numpy, tensorflow as tf, tf_keras, tf_agents, tensorflow_probability as tfp, gymnasium
print(f"install_stack: ok: tensorflow {tf.__version__}, tf_keras {tf_keras.__version__}, "
      f"tf_agents {tf_agents.__version__}, tfp {tfp.__version__}, gymnasium {gymnasium.__version__}, "
      f"numpy {numpy.__version__}")
PY
