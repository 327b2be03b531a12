"""`python -m toycorewar run FILE.s [--init A,B,C,D]` and `python -m toycorewar map FILE.s` (toycorewar/cli.py)."""

import sys

from toycorewar.cli import main, quiet_closed_pipe

if __name__ == "__main__":
    quiet_closed_pipe()
    sys.exit(main())
