"""Print pip requirements pinning each core dependency of setup.cfg to the
release series of its declared minimum ("numpy>=1.23" gives "numpy==1.23.*")."""

import configparser
import re
import sys

config = configparser.ConfigParser()
config.read(sys.argv[1])
pins = []
for line in config["options"]["install_requires"].split("\n"):
    line = line.strip()
    if not line:
        continue
    match = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*>=\s*([0-9]+(?:\.[0-9]+)*)", line)
    if match is None:
        sys.exit(f"cannot read a minimum version from {line!r} in {sys.argv[1]}")
    pins.append(f"{match[1]}=={match[2]}.*")
print(" ".join(pins))
