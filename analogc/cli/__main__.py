"""``python -m analogc.cli``: the ``analogc`` command."""
import sys

from analogc.cli import main

if __name__ == "__main__":
    sys.exit(main())
