"""Jittered digits: scikit-learn's 8x8 digits at random positions on a larger
canvas, the 'where' and 'what' problem of Eigen, Ranzato & Sutskever (2013)."""

from numbers import Integral

import numpy as np
from sklearn.datasets import load_digits
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import validate_params

from .._params import Interval

_SIDE = 8  # load_digits' images are 8x8


@validate_params(
    {
        "n_copies": [Interval(Integral, 1, None, closed="left")],
        "canvas_size": [Interval(Integral, _SIDE, None, closed="left")],
        "grid": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_jittered_digits(n_copies=1, *, canvas_size=16, grid=2, random_state=None):
    """Place the digits of ``load_digits`` at random positions on a canvas.

    Each 8x8 image (pixel values 0 to 16) is pasted on a blank
    ``canvas_size`` x ``canvas_size`` canvas at one of ``grid * grid``
    positions drawn uniformly: its top-left corner at row and column
    offsets from ``np.linspace(0, canvas_size - 8, grid)``, rounded. With
    the defaults the digit fills one quadrant of a 16x16 canvas. Where the
    digit is and which digit it is are then two independent factors of the
    input, the jittered MNIST of Eigen, Ranzato & Sutskever (2013), built
    from data that ships with scikit-learn.

    Parameters
    ----------
    n_copies : int, default=1
        Copies of the 1797 images, each at its own random position.
    canvas_size : int, default=16
        Side of the square canvas, at least 8.
    grid : int, default=2
        Positions per axis, at most ``canvas_size - 7`` (every offset:
        uniformly random translations).
    random_state : int, RandomState instance or None, default=None
        Seeds the positions.

    Returns
    -------
    X : ndarray of shape (1797 * n_copies, canvas_size ** 2)
        The canvases, row by row. Row j shows image ``j % 1797`` of
        ``load_digits`` (split the copies of one image into the same fold,
        e.g. with ``GroupKFold`` on ``np.arange(len(X)) % 1797``).
    y : ndarray of shape (1797 * n_copies,)
        The digit, 0 to 9.
    position : ndarray of shape (1797 * n_copies,)
        The position's index, ``grid * row + column`` of its cell.

    See Also
    --------
    sklearn.datasets.load_digits : The 8x8 digits.

    Examples
    --------
    >>> from mixexp.datasets import make_jittered_digits
    >>> X, y, position = make_jittered_digits(random_state=0)
    >>> X.shape, y.shape, int(position.max())
    ((1797, 256), (1797,), 3)
    """
    if grid > canvas_size - _SIDE + 1:
        raise ValueError(
            f"grid={grid} asks for more positions per axis than the "
            f"{canvas_size - _SIDE + 1} offsets an 8x8 image has on a "
            f"{canvas_size}x{canvas_size} canvas; use grid <= canvas_size - 7."
        )
    rng = check_random_state(random_state)
    digits = load_digits()
    n_images = digits.images.shape[0]
    image = np.tile(np.arange(n_images), n_copies)
    n = image.shape[0]
    position = rng.randint(grid * grid, size=n).astype(np.int64)
    offsets = np.round(np.linspace(0, canvas_size - _SIDE, grid)).astype(np.intp)
    top, left = offsets[position // grid], offsets[position % grid]
    pixels = np.arange(_SIDE)
    canvas = np.zeros((n, canvas_size, canvas_size))
    canvas[
        np.arange(n)[:, None, None],
        top[:, None, None] + pixels[None, :, None],
        left[:, None, None] + pixels[None, None, :],
    ] = digits.images[image]
    return canvas.reshape(n, -1), digits.target[image].copy(), position
