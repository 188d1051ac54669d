"""course_lib: the shared library behind the course's chapters and exercise notebooks.

Modules (each chapter names the ones it uses):
    device     pick_device, autocast_dtype, needs_grad_scaler, describe_environment
    seed       seed_everything
    runsize    run_size, pick ("full" on a GPU, "smoke" on CPU/CI; COURSE_RUN_SIZE overrides)
    data       download (checksummed, cached; COURSE_OFFLINE, COURSE_DATA_DIR)
    plotting   use_course_style
    gradcheck  numeric_grad, relative_error
    testing    assert_shape, assert_close, assert_own (test helpers with teaching messages)
"""
from .device import autocast_dtype, describe_environment, in_colab, needs_grad_scaler, pick_device
from .runsize import pick, run_size
from .seed import seed_everything

__version__ = "0.1.0"
__all__ = [
    "autocast_dtype", "describe_environment", "in_colab", "needs_grad_scaler", "pick_device",
    "pick", "run_size", "seed_everything",
]
