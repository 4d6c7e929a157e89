"""Loaders for the classic data sets bundled with mixexp."""

import csv
from importlib import resources

import numpy as np
from sklearn.utils import Bunch

_VOWELS = ("i", "I", "E", "{", "A", "O", "U", "u", "V", "3'")
_FORMANTS = ("f0", "f1", "f2", "f3")


def load_vowels(
    *, vowels=("i", "I", "A", "V"), features=("f1", "f2"), return_X_y=False
):
    """Peterson & Barney (1952) vowel formants, the data of Jacobs et al. (1991).

    76 speakers (men, women, children) each said 10 vowels twice; each row
    holds the formant frequencies of one utterance. Jacobs, Jordan, Nowlan &
    Hinton (1991) classified the vowels [i] [I] [a] [Λ] (the default
    ``vowels``) from F1 and F2, training on 50 speakers and testing on 25.
    Source: R package phonTools (``pb52``), BSD 2-Clause licence; see
    ``mixexp/datasets/data/README.md``.

    Parameters
    ----------
    vowels : sequence of str, default=("i", "I", "A", "V")
        X-SAMPA labels to keep, among ``i I E { A O U u V 3'``.
    features : sequence of str, default=("f1", "f2")
        Columns among ``f0 f1 f2 f3`` (Hz).
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data`` (n_samples, n_features) float array, ``target`` (n_samples,)
        vowel labels, ``speaker`` (n_samples,) speaker ids 1-76 (split by
        these for speaker-independent tests), ``speaker_type`` ("m", "w" or
        "c"), ``feature_names`` and ``DESCR``.

    Examples
    --------
    >>> from mixexp.datasets import load_vowels
    >>> X, y = load_vowels(return_X_y=True)
    >>> X.shape
    (608, 2)
    """
    unknown = sorted(set(vowels) - set(_VOWELS))
    if unknown:
        raise ValueError(f"Unknown vowels {unknown}; choose among {list(_VOWELS)}.")
    bad = sorted(set(features) - set(_FORMANTS))
    if bad:
        raise ValueError(f"Unknown features {bad}; choose among {list(_FORMANTS)}.")
    path = resources.files("mixexp.datasets") / "data" / "peterson_barney.csv"
    with path.open() as handle:
        rows = [row for row in csv.DictReader(handle) if row["vowel"] in set(vowels)]
    X = np.array([[float(row[f]) for f in features] for row in rows])
    if return_X_y:
        return X, np.array([row["vowel"] for row in rows])
    return Bunch(
        data=X,
        target=np.array([row["vowel"] for row in rows]),
        speaker=np.array([int(row["speaker"]) for row in rows]),
        speaker_type=np.array([row["type"] for row in rows]),
        feature_names=list(features),
        DESCR=load_vowels.__doc__,
    )
