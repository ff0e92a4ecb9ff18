"""A real data set that ships offline: scikit-learn's 8x8 handwritten digits.

Used in chapter 3 (per-sample gradients of a real model) and chapters 6-8 (trained networks).
"""

import numpy as np

from bnlab._validate import float_dtype, positive_int

N_SAMPLES, N_FEATURES, N_CLASSES, MAX_PIXEL = 1797, 64, 10, 16.0


def load_digits(seed=0, val_fraction=0.2, dtype=np.float32):
    """The digits data set, split into training and validation sets by `seed`.

    Parameters
    ----------
    seed : int, default 0
        Seed of the split; the same seed gives the same split.
    val_fraction : float, default 0.2
        Fraction of the 1797 images in the validation set, in (0, 1); rounded up.
    dtype : float32 or float64, default float32

    Returns
    -------
    X_train : ndarray of shape (N_train, 64), `dtype`, values in [0, 1]
    y_train : ndarray of shape (N_train,), int64, labels 0-9
    X_val : ndarray of shape (N_val, 64), `dtype`, values in [0, 1]
    y_val : ndarray of shape (N_val,), int64, labels 0-9

    Notes
    -----
    Pixels are grey levels 0-16, scaled to [0, 1] by dividing by 16: a fixed map that uses
    no statistic of the training set, so normalization is left to the models. The split is
    stratified (each digit appears in the validation set in proportion to its frequency) and
    ``N_val = ceil(val_fraction * 1797)``. Read from the copy bundled with scikit-learn;
    nothing is downloaded. Used in chapters 3 and 8.

    Examples
    --------
    >>> X_train, y_train, X_val, y_val = load_digits(seed=0)
    >>> X_train.shape, X_val.shape, X_train.dtype, int(y_train.max())
    ((1437, 64), (360, 64), dtype('float32'), 9)
    """
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    seed = positive_int(seed, "seed", minimum=0)
    val_fraction = _open_fraction(val_fraction)
    dtype = float_dtype(dtype, "dtype")
    X, y = sklearn_digits(return_X_y=True)
    X = (X / MAX_PIXEL).astype(dtype)
    X_train, X_val, y_train, y_val = train_test_split(
        X, y.astype(np.int64), test_size=val_fraction, random_state=seed, stratify=y
    )
    return X_train, y_train, X_val, y_val


def digits_tensors(seed=0, dtype=np.float32):
    """`load_digits` as torch tensors: X_train, y_train, X_val, y_val.

    The one conversion the chapters and experiments share; ``dtype`` as in `load_digits`.

    Examples
    --------
    >>> X_train, y_train, X_val, y_val = digits_tensors()
    >>> X_train.dtype, y_val.dtype, tuple(X_val.shape)
    (torch.float32, torch.int64, (360, 64))
    """
    import torch

    return tuple(torch.from_numpy(a) for a in load_digits(seed=seed, dtype=dtype))


def _open_fraction(value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
        raise TypeError(f"val_fraction must be a number, got {type(value).__name__}")
    n_val = int(np.ceil(value * N_SAMPLES)) if np.isfinite(value) else 0
    if not 0 < value < 1 or n_val < N_CLASSES or N_SAMPLES - n_val < N_CLASSES:
        raise ValueError(
            f"val_fraction must be in (0, 1) and leave at least {N_CLASSES} images on each side, "
            f"got {value}"
        )
    return float(value)
