"""Nothing phones home: Gradio analytics, TRL / Hub telemetry and hub downloads stay off.

Imported first by the package, so the app and every job process inherit it. A user who wants
the hub (a hub model id) sets WORKBENCH_ALLOW_HUB=1.
"""

import os

OFFLINE_ENV = {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def apply() -> None:
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    # Telemetry must be off even if a user's shell turned it on.
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    if os.environ.get("WORKBENCH_ALLOW_HUB") != "1":
        os.environ.setdefault("HF_HUB_OFFLINE", "1")


apply()
