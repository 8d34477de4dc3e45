"""`python -m images_server …` is `ouro images-server …` (tests and benchmarks run it so)."""

import sys

from ouro.cli import main

sys.exit(main(["images-server", *sys.argv[1:]]))
