"""The SFT <-> RLHF workbench engine.

One library under three front ends (the Gradio app in `ui/`, the Jupyter widgets in
`workbench.widgets`, the `workbench` CLI). Heavy modules (torch, transformers) load on first use.
"""

from workbench import privacy as _privacy  # noqa: F401  (telemetry off before anything else loads)
from workbench.errors import ConfigError, DataError, ModelError, RunError, WorkbenchError

__all__ = ["WorkbenchError", "DataError", "ConfigError", "ModelError", "RunError"]
__version__ = "0.1.0"
