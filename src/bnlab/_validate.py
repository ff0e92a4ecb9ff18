"""Argument checks shared by the package: every error names the argument and what was expected."""

import numpy as np

FLOAT_DTYPES = (np.float32, np.float64)


def float_array(value, name, *, min_ndim=1):
    """Return `value` as a float32/float64 ndarray, or raise naming `name`.

    Integer, boolean and complex input is refused rather than silently cast: a course about
    numerical accuracy should not hide a dtype change.
    """
    if isinstance(value, (list, tuple)):
        value = np.asarray(value, dtype=np.float64)
    if not isinstance(value, np.ndarray):
        raise TypeError(
            f"{name} must be a numpy array of float32 or float64, got {type(value).__name__}"
        )
    if value.dtype.type not in FLOAT_DTYPES:
        raise TypeError(f"{name} must have dtype float32 or float64, got {value.dtype}")
    if value.ndim < min_ndim:
        raise ValueError(
            f"{name} must have at least {min_ndim} dimension(s), got shape {value.shape}"
        )
    return value


def batch_input(x, name="x"):
    """Return a non-empty float array of at least 2 dimensions, (N, D) or (N, C, *spatial)."""
    x = float_array(x, name, min_ndim=2)
    if x.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {x.shape}")
    return x


def per_channel(v, ndim):
    """Reshape a (C,) array to (1, C, 1, ...) so that it broadcasts against (N, C, *spatial)."""
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def param_array(value, name, shape, dtype):
    """Return a parameter of exactly `shape`, cast to `dtype`, or raise naming `name`."""
    value = float_array(value, name, min_ndim=0)
    if value.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {value.shape}")
    return value.astype(dtype, copy=False)


def positive_int(value, name, *, minimum=1):
    """Return `value` as int if it is an integer >= `minimum`, else raise naming `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def nonnegative_float(value, name):
    """Return `value` as float if it is a finite number >= 0, else raise naming `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return float(value)


def unit_interval(value, name):
    """Return `value` as float if it is a number in [0, 1], else raise naming `name`."""
    value = nonnegative_float(value, name)
    if value > 1:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return value


def one_of(value, name, options):
    """Return `value` if it is one of `options`, else raise naming `name` and the options."""
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}; got {value!r}")
    return value


def float_dtype(value, name):
    """Return `value` as a numpy float32/float64 dtype, else raise TypeError naming `name`."""
    if np.dtype(value).type not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64, got {np.dtype(value)}")
    return np.dtype(value)


def float_matrix(value, name, shape="(N, D)"):
    """Return `value` as a float 2-D array with at least one row, else raise naming `name`."""
    value = float_array(value, name)
    if value.ndim != 2 or value.shape[0] == 0:
        raise ValueError(f"{name} must have shape {shape} with at least one row, got {value.shape}")
    return value
