"""Jupyter front ends over the engine, the same calls the GUI makes; they hold no logic of their own.

    from workbench.widgets import DataInspector, TokenViewer, TrainingLauncher, CompareWidget
    DataInspector("sample_data/sft.jsonl")            # format, task, per-line problems
    TokenViewer("sample_data/sft.jsonl", model="tiny")  # what is trained, token by token
    TrainingLauncher("sft", data="sample_data/sft.jsonl", model="tiny", max_steps=20)  # live charts
    CompareWidget(["base", "my-sft-run"], reward_model="my-reward-run")  # side by side
    PipelineWidget("sample_data/pipeline.yaml")        # several stages in one go, one row per step

Each is an ipywidgets container: show it by leaving it as the last expression of a cell.
"""

from workbench.widgets.compare import CompareWidget
from workbench.widgets.data import DataInspector
from workbench.widgets.feedback import FeedbackWidget
from workbench.widgets.pipeline import PipelineWidget
from workbench.widgets.tokens import TokenViewer
from workbench.widgets.train import TrainingLauncher
