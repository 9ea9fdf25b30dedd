"""RL for language models: PPO's maths (`maths.py`) and rewards checked or computed from text
(`rewards.py`).

The KL estimators' names live here, not in maths.py, so a config checks a name without importing torch.
"""

KL_ESTIMATORS = ("k1", "k3", "abs", "mse")
