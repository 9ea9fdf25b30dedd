"""What every command module shares: exit statuses, JSON output, the --precision option."""

from __future__ import annotations

import json

# Exit statuses: 0 done, 2 the input or request cannot be used (the message says why).
EXIT_OK, EXIT_UNUSABLE = 0, 2


def print_json(value) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def add_precision_option(p) -> None:
    from workbench.models.hardware import PRECISIONS
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="the dtype the models compute in; auto = $WORKBENCH_PRECISION if set, else "
                        "bf16 where this machine runs it in hardware, else fp32 (see `models list`)")
