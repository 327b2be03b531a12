"""`python -m toycorewar run FILE.s [--init A,B,C,D]` (toycorewar/cli.py)."""

import sys

from toycorewar.cli import main

if __name__ == "__main__":
    sys.exit(main())
