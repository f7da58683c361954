"""Build the HTML book strictly: every notebook executed (cached), warnings are errors.

``python -m helpers.book`` runs ``jupyter-book build ROOT -W -n --keep-going --all`` and prints the
path of the built book.  ``--all`` re-reads every page so that ``-W`` sees warnings of unchanged pages
too; executions are still served from the jupyter-cache, and heavy artifacts from ``data/cache``.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

from . import paths

COMMAND = ["build", str(paths.ROOT), "-W", "-n", "--keep-going", "--all"]


def jupyter_book() -> str:
    exe = os.path.join(os.path.dirname(sys.executable), "jupyter-book")
    return exe if os.path.exists(exe) else (shutil.which("jupyter-book") or "jupyter-book")


def build(capture: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"),
           "ISOBOOK_QUIET": "1", "TQDM_DISABLE": "1"}
    return subprocess.run([jupyter_book(), *COMMAND], cwd=paths.ROOT, env=env, text=True,
                          capture_output=capture)


def main() -> int:
    t0 = time.time()
    res = build()
    index = paths.HTML / "index.html"
    if res.returncode == 0:
        print(f"\nBook built in {time.time() - t0:.0f} s: {index}")
    else:
        print(f"\nBook build FAILED (rc={res.returncode}); see {paths.HTML / 'reports'}", file=sys.stderr)
    return res.returncode


if __name__ == "__main__":
    sys.exit(main())
