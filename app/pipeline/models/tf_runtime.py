"""TensorFlow process setup: quiet logs, GPU memory growth, CPU thread counts, device description.

Call :func:`configure` before the first model is built. Importing this module does not import
TensorFlow; :func:`configure` does.
"""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger(__name__)

_CONFIGURED = False


def configure(threads: int | None = None) -> Any:
    """Import and configure TensorFlow once per process; return the ``tensorflow`` module.

    Sets TF's C++ log level to warnings (unless TF_CPP_MIN_LOG_LEVEL is set), turns on memory
    growth for every GPU (so several workers can share one), and uses ``threads`` (default: all
    CPU cores, or $GLIOMALENS_TF_THREADS) for intra-op parallelism with one inter-op thread. Later
    calls return the module unchanged. Refuses nothing.
    """
    global _CONFIGURED
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    if _CONFIGURED:
        return tf
    if threads is None:
        env = os.environ.get("GLIOMALENS_TF_THREADS")
        threads = int(env) if env else (os.cpu_count() or 1)
    try:
        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError as exc:  # TF already initialised by someone else: keep its settings
        log.debug("TensorFlow already initialised, settings kept: %s", exc)
    _CONFIGURED = True
    return tf


def describe_device() -> str:
    """Return the device TensorFlow computes on: "GPU:0 (NVIDIA H100)", "CPU (2 threads)"..."""
    tf = configure()
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        try:
            name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "")
        except (RuntimeError, ValueError):
            name = ""
        return f"GPU:0 ({name})" if name else "GPU:0"
    threads = tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()
    return f"CPU ({threads} threads)"
