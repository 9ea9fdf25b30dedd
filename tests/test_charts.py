"""The metric charts every front end draws (`workbench.charts`): TensorBoard's smoothing on
hand-computed numbers, one chart per metric family with its eval points on the training curve,
overlaid runs dashed, and whole-step ticks."""

import math

import pytest

from workbench import charts

DPO = [{"step": 1, "loss": 0.69, "rewards/margins": 0.1, "rewards/accuracies": 0.5, "rewards/chosen": 0.2,
        "learning_rate": 1e-4, "logps/chosen": -200.0},
       {"step": 2, "loss": 0.60, "rewards/margins": 0.3, "rewards/accuracies": 0.75, "rewards/chosen": 0.4},
       {"step": 3, "loss": 0.66, "rewards/margins": 0.2, "rewards/accuracies": 1.0, "rewards/chosen": 0.3},
       {"step": 3, "eval_loss": 0.65, "eval_rewards/margins": 0.2, "eval_runtime": 1.0}]
SFT = [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5}, {"step": 3, "loss": 1.2}, {"step": 3, "train_loss": 1.6}]


def test_ema_is_tensorboards_debiased_moving_average():
    # w = 0.5 by hand: s1 = 0.5, /(1 - .5) = 1; s2 = .25 + 1 = 1.25, /.75 = 5/3; s3 = .625 + 1.5 = 2.125, /.875
    assert charts.ema([1, 2, 3], 0.5) == pytest.approx([1.0, 5 / 3, 2.125 / 0.875])
    # w = 0.6: s1 = 4, /.4 = 10 (the first point is the first value, not pulled to 0); s2 = 2.4 + 8 = 10.4, /.64
    assert charts.ema([10, 20], 0.6) == pytest.approx([10.0, 10.4 / 0.64])
    assert charts.ema([3, 1, 4], 0) == [3, 1, 4]  # no smoothing
    assert charts.ema([8.0] * 12, 0.6) == [8.0] * 12  # a flat curve stays exactly flat: no rounding wiggles
    # a NaN stays where it is and is left out of the average
    smoothed = charts.ema([1, math.nan, 3], 0.5)
    assert smoothed[0] == 1 and math.isnan(smoothed[1])
    assert smoothed[2] == pytest.approx(charts.ema([1, 3], 0.5)[1])
    with pytest.raises(ValueError, match="not in"):
        charts.ema([1], 1.0)


def test_one_chart_per_metric_family_with_eval_points_on_the_curve():
    assert charts.metric_families({"d": DPO}) == [("Loss", ["loss"]), ("Accuracy", ["rewards/accuracies"]),
                                                  ("Margins", ["rewards/margins"]), ("Reward", ["rewards/chosen"])]
    ppo = [{"step": 1, "policy_loss": 0.1, "value_loss": 0.4, "kl": 0.01, "kl_coef": 0.05, "reward/mean": 0.2,
            "response_length": 8.0, "eval_reward/start": 0.1}]
    assert charts.metric_families({"p": ppo}) == [
        ("Policy and value loss", ["policy_loss", "value_loss"]), ("KL", ["kl"]),  # not its coefficient
        ("Reward", ["eval_reward/start", "reward/mean"]), ("Answer length", ["response_length"])]

    figures = charts.metric_figures({"dpo-1": DPO}, smoothing=0.5)
    assert list(figures) == ["Loss", "Accuracy", "Margins", "Reward"]
    loss = {t.meta["kind"]: t for t in figures["Loss"].data}
    assert list(loss["raw"].y) == [0.69, 0.60, 0.66] and loss["raw"].opacity == charts.RAW_OPACITY
    assert list(loss["smoothed"].y) == pytest.approx(charts.ema([0.69, 0.60, 0.66], 0.5))
    assert loss["raw"].line.color == loss["smoothed"].line.color == loss["eval"].marker.color  # one colour
    assert loss["smoothed"].opacity is None and loss["smoothed"].line.width > loss["raw"].line.width
    assert not loss["raw"].showlegend and loss["raw"].legendgroup == loss["smoothed"].legendgroup
    assert (loss["eval"].mode, list(loss["eval"].x), loss["eval"].name) == ("markers", [3], "eval_loss")
    assert figures["Accuracy"].layout.yaxis.range == (-0.03, 1.03)
    # every chart: whole-step ticks, its legend below the plot, the same height
    for title, figure in figures.items():
        assert figure.layout.title.text == title and figure.layout.xaxis.tickformat == "d"
        assert figure.layout.xaxis.dtick == 1 and figure.layout.legend.y < 0 and figure.layout.height == 300


def test_overlaid_runs_are_dashed_and_nothing_logged_yet_says_so():
    figures = charts.metric_figures({"dpo-1": DPO, "sft-1": SFT})
    traces = {(t.meta["run"], t.meta["key"], t.meta["kind"]): t for t in figures["Loss"].data}
    assert set(traces) == {("dpo-1", "loss", "raw"), ("dpo-1", "loss", "smoothed"), ("dpo-1", "eval_loss", "eval"),
                           ("sft-1", "loss", "raw"), ("sft-1", "loss", "smoothed")}
    assert traces[("dpo-1", "loss", "smoothed")].line.dash == "solid"
    assert traces[("sft-1", "loss", "smoothed")].line.dash == "dash"
    assert traces[("sft-1", "loss", "smoothed")].name == "sft-1: loss"
    assert list(traces[("sft-1", "loss", "raw")].y) == [2.0, 1.5, 1.2]  # train_loss, the final average, is left out
    assert charts.count_points(DPO) == 3
    empty = charts.metric_figures({"new": []})
    assert list(empty) == ["Metrics"] and "no points yet" in empty["Metrics"].layout.title.text


@pytest.mark.parametrize("last, tick", [(1, 1), (7, 1), (8, 2), (13, 2), (14, 5), (150, 50), (400, 100)])
def test_step_ticks_are_whole_and_round(last, tick):
    figure = charts.metric_figures({"r": [{"step": s, "loss": 1.0} for s in range(1, last + 1)]})["Loss"]
    assert figure.layout.xaxis.dtick == tick
