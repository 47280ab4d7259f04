"""`recsys run` in a child process that can SIGKILL itself in the middle of a partition write.

Usage: python tests/support/crash_child.py run [recsys run options]
With CRASH_AT=<sql name>@<day> (e.g. ``labels/ctr_labels/build@2026-01-06``) the process kills
itself with SIGKILL right after that partition's statements ran inside their transaction
and before the COMMIT: the hardest moment to die. Used by test_operations.py.
"""

from __future__ import annotations

import os
import signal
import sys

from recsys_assets.cli.main import main
from recsys_assets.warehouse import tables as warehouse


def _install_crash(spec: str) -> None:
    target, day = spec.split("@")
    run_sql = warehouse.run_sql

    def run_sql_then_die(con, name, params=None, *args, **kwargs):
        run_sql(con, name, params, *args, **kwargs)
        if name == target and str(params.get("day")) == day:
            os.kill(os.getpid(), signal.SIGKILL)

    warehouse.run_sql = run_sql_then_die


if __name__ == "__main__":
    if os.environ.get("CRASH_AT"):
        _install_crash(os.environ["CRASH_AT"])
    sys.exit(main(sys.argv[1:]))
