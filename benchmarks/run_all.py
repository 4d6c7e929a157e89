"""Run every benchmark and write BENCHMARKS.md from their printed tables.

Each script in ``SCRIPTS`` runs in its own process, one after another (so
they do not compete for the two cores); its output goes verbatim into
BENCHMARKS.md at the project root, under the command that produced it, with
the date, the machine and the versions. A script that fails leaves its error
in the file instead of a table. Peers that are not installed print "not
installed" in their rows (see ``benchmarks/install_peers.sh``).

With ``--only``, only those scripts run and only their sections of an
existing BENCHMARKS.md are replaced.

Run:  python benchmarks/run_all.py [--only bench_scaling ...] [--out BENCHMARKS.md]
"""

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (script, arguments, what it answers)
SCRIPTS = [
    (
        "bench_scaling.py",
        [],
        "Seconds per EM iteration and peak memory from 10^4 to 10^7 rows "
        "(d = 20, K = 8, float32), against the Gram products every M-step pays.",
    ),
    (
        "bench_peers.py",
        [],
        "Side by side with R flexmix, cgmm, neural-trees and smt's MOE on the "
        "same data and model.",
    ),
    (
        "bench_dask.py",
        [],
        "Seconds per EM iteration on dask arrays (no client, and a 2-worker "
        "LocalCluster) against the same fit in memory.",
    ),
    (
        "bench_restarts.py",
        [],
        "A mixture's n_init restarts on one worker, in two threads and in two "
        "worker processes.",
    ),
    (
        "bench_uci.py",
        [],
        "Against the scikit-learn models a user would pick instead, on the "
        "five UCI regression sets' 20 published splits, next to published "
        "PBP and MC-dropout numbers.",
    ),
    (
        "bench_uci.py",
        ["--datasets", "friedman1-30"],
        "The same on a wide synthetic table: Friedman's function of five "
        "inputs beside 25 noise inputs, 2,000 training rows.",
    ),
    (
        "bench_uci.py",
        ["--datasets", "friedman1-40"],
        "The same function beside 35 noise inputs, 10,000 training rows: "
        "enough rows for quadratic experts, too many inputs for their cost.",
    ),
    (
        "bench_classification.py",
        [],
        "The cross-validated classifier at its defaults against MLP, an MLP "
        "grid search, logistic regression and HistGB on the 1991 vowels, an "
        "XOR of linear problems and the digits.",
    ),
    (
        "bench_em.py",
        [],
        "Seconds per EM iteration (d = 10, K = 8, float64) and the fit's "
        "peak numpy allocation in multiples of X.",
    ),
    ("bench_gate_solvers.py", [], "The softmax gate's M-step solvers."),
    ("bench_solvers.py", [], "EM against the gradient solvers."),
    ("bench_gates.py", [], "Softmax against Gaussian gates."),
    ("bench_routing.py", [], "Dense against top-k routing."),
    ("bench_hme.py", [], "Hierarchical against flat mixtures by depth."),
    (
        "bench_hme.py",
        ["--scaling"],
        "Seconds per EM iteration of a hierarchy against the number of its "
        "tree's nodes (depth 2 to 12).",
    ),
    (
        "bench_init.py",
        [],
        "How much k-means EM's initialization needs: the optimum reached with "
        "fewer Lloyd iterations or one run.",
    ),
    (
        "bench_large_k.py",
        [],
        "EM at K = 8 to 64 experts: iterations and seconds to convergence, and "
        "one iteration against the K weighted Gram products.",
    ),
    (
        "bench_deep.py",
        [],
        "The deep mixture of experts on jittered digits against an MLP of the "
        "same size and flat mixtures: accuracy, and each layer's NMI with the "
        "digit's position and class (Eigen et al. 2013).",
    ),
    (
        "bench_inference.py",
        [],
        "Coverage of coef_table's 95% Wald intervals (observed information "
        "and bootstrap) on planted two-expert problems, and the bootstrap "
        "LRT's size and power.",
    ),
    (
        "bench_gp.py",
        [],
        "Mixtures of Gaussian-process experts against one "
        "GaussianProcessRegressor: held-out log density and RMSE on the "
        "motorcycle data, fit time and RMSE from 1,000 to 8,568 power-plant "
        "rows.",
    ),
]


def versions():
    import numpy
    import scipy
    import sklearn

    import mixexp

    return (
        f"mixexp {mixexp.__version__}, numpy {numpy.__version__}, "
        f"scipy {scipy.__version__}, scikit-learn {sklearn.__version__}, "
        f"Python {platform.python_version()}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", help="script names (without .py)")
    parser.add_argument("--out", default=str(HERE.parent / "BENCHMARKS.md"))
    args = parser.parse_args()
    chosen = [
        entry
        for entry in SCRIPTS
        if not args.only or entry[0].removesuffix(".py") in args.only
    ]
    out = Path(args.out)
    sections, notes = {}, []
    if args.only and out.exists():
        sections, notes = _existing_sections(out)
    for script, extra, question in chosen:
        command = ["python", f"benchmarks/{script}", *extra]
        print("$", " ".join(command), flush=True)
        start = time.perf_counter()
        run = subprocess.run(
            [sys.executable, str(HERE / script), *extra],
            capture_output=True,
            text=True,
            cwd=HERE.parent,
        )
        seconds = time.perf_counter() - start
        output = run.stdout.rstrip()
        if run.returncode != 0:
            output += f"\n\nFAILED (exit {run.returncode}):\n{run.stderr[-3000:]}"
        print(output, flush=True)
        sections[_key(script, extra)] = (
            f"## `{' '.join(command)}`\n\n{question} ({seconds:.0f} s, "
            f"{datetime.date.today().isoformat()})\n\n```\n{output}\n```\n"
        )
    header = (
        "# Benchmarks\n\n"
        "Generated by `python benchmarks/run_all.py` on "
        f"{datetime.date.today().isoformat()}: {platform.machine()}, "
        f"{os.cpu_count()} cores; {versions()}. Every table is the verbatim "
        "output of the command above it; ratios are measured side by side in "
        "the same run. Timings on a shared machine vary by 10-30%.\n\n"
    )
    keys = [_key(script, extra) for script, extra, _ in SCRIPTS]
    ordered = [sections[key] for key in keys if key in sections]
    out.write_text(header + "\n".join(notes + ordered))
    print(f"wrote {out}")


def _key(script, extra):
    """A section's key: the command after ``python benchmarks/``."""
    return " ".join([script, *extra])


def _existing_sections(path):
    """The sections of a BENCHMARKS.md by their command, and the sections
    whose heading is not a command (notes, kept first, in their order)."""
    sections, notes = {}, []
    for part in path.read_text().split("\n## ")[1:]:
        heading = part.split("\n", 1)[0]
        text = "## " + part.rstrip("\n") + "\n"
        if heading.startswith("`python benchmarks/"):
            sections[heading.split("benchmarks/", 1)[1].split("`", 1)[0]] = text
        else:
            notes.append(text)
    return sections, notes


if __name__ == "__main__":
    main()
