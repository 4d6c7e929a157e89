#!/usr/bin/env bash
# Install the peers that benchmarks/bench_peers.py compares mixexp against
# (mixexp itself is expected to be installed already):
#   - R with flexmix, from Debian's packages (r-base-core, r-cran-flexmix),
#     when apt-get is available; otherwise install R and flexmix yourself;
#   - the Python peers cgmm, neural-trees (with torch, CPU build) and smt.
# The versions below are the ones the benchmark was checked with.
#
# Run:  bash benchmarks/install_peers.sh      (as root, or with sudo available)
# Env:  PYTHON            interpreter to install into (default: python)
#       TORCH_INDEX_URL   pip index for torch; set it to PyTorch's CPU wheel
#                         index on Linux machines without a local CPU wheel,
#                         so that pip does not pull the CUDA build
#       SKIP_R=1          do not touch apt / R
set -euo pipefail

PYTHON=${PYTHON:-python}

if [ "${SKIP_R:-0}" != 1 ]; then
    if command -v apt-get >/dev/null 2>&1; then
        SUDO=""
        if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q \
            r-base-core r-cran-flexmix
    else
        echo "apt-get not found: install R and the R package flexmix yourself;" \
            "without them the flexmix rows print 'not installed'." >&2
    fi
fi

# torch only if missing, so that an existing (e.g. CUDA) build is kept.
if ! "$PYTHON" -c "import torch" >/dev/null 2>&1; then
    if [ -n "${TORCH_INDEX_URL:-}" ]; then
        "$PYTHON" -m pip install "torch>=2.13" --index-url "$TORCH_INDEX_URL"
    else
        "$PYTHON" -m pip install "torch==2.13.0"
    fi
fi

"$PYTHON" -m pip install "cgmm>=0.5.1" "neural-trees>=0.8.0" "smt>=2.15.0"

# Check what the benchmark will find.
"$PYTHON" - <<'EOF'
import importlib.metadata as md

for name in ("torch", "cgmm", "neural-trees", "smt"):
    print(f"{name:>12} {md.version(name)}")
EOF
if command -v Rscript >/dev/null 2>&1; then
    Rscript -e 'cat(sprintf("%12s %s\n", "flexmix", packageVersion("flexmix")))'
fi
