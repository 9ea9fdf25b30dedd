"""Human feedback: rate two answers to a prompt, grow a preference dataset, learn from it.

RLHF starts with people judging model outputs. Here a rater sees two answers to one prompt (one
model with two sampling seeds, or two models), picks the better one, marks a tie or skips, and may
correct the better answer first. Each judgement is appended at once to

    $WORKBENCH_HOME/feedback/<name>.jsonl

in the canonical preference form, so `workbench data inspect`, `load_rows(task="preference")` and
the reward and DPO stages read it like any other preference file. One line per judgement:

    {"prompt": [messages], "chosen": str, "rejected": str,
     "id": uuid, "chosen_model", "chosen_seed", "chosen_side": "left"|"right",
     "rejected_model", "rejected_seed", "rejected_side", "rater", "time": ISO 8601 UTC,
     "temperature", "top_p", "max_new_tokens",
     "chosen_original"?: the answer as generated, when the rater corrected it ("chosen" is the fix),
     "tie"?: true  (then chosen/rejected are simply the left/right answers; not a training pair)}

A thumbs up or down on one answer (a rater may give each answer on show one, before or instead of
choosing between them) is a line of the unpaired (KTO) form:

    {"prompt": [messages], "completion": str, "label": true|false, "thumb": "up"|"down",
     "id", "model", "seed", "side": "left"|"right", "rater", "time", "temperature", "top_p",
     "max_new_tokens"}

Read as the `unpaired` task (`workbench train kto --data FILE`, `load_rows(task="unpaired")`) a
feedback file gives its thumbs and, for each pair, two rows: the chosen answer labelled desirable
and the rejected one undesirable. Read as `preference` it gives its pairs; the thumbs are left out.
A file of thumbs only is an unpaired file.

A rating of an answer served by `workbench serve` (POST /v1/feedback) is a thumb with
"side": "served" and "exchange": the served answer's id; with a correction it is a pair whose
chosen answer is the correction ("chosen_side": "correction", "rating": "up"|"down").

The file is never rewritten: undo appends {"retracts": id, "id", "rater", "time"}, and readers drop
the retracted judgement. Skips are not written: a skip says nothing about the answers, and the file
is the user's dataset, not a log of the session. A crash or a closed tab loses at most the
judgement being written (a torn last line, which readers skip).

    session = Session("my-feedback", ["base"], prompts, rater="ana")
    pair = session.advance()             # pair.left / pair.right: Candidate(model, seed, text)
    session.judge("left")                # or "right", "tie", "skip"; corrected="better text"
    session.thumb("right", "down")       # a thumbs down on answer B; the pair stays on show
    train_from_feedback("my-feedback", stage="dpo", max_steps=20)   # or "reward", "kto"
"""

from workbench.feedback.dataset import (
    CHOICES, RATINGS, SIDES, THUMBS, check_name, feedback_path, feedback_stats, judgement_record, list_feedback,
    rating_record, read_feedback, record_judgement, record_rating, record_thumb, resolve, thumb_record, undo,
)
from workbench.feedback.pairs import Candidate, Pair, check_sampling, make_pair, prompts_from
from workbench.feedback.raters import agreement, agreement_with_reward_model, cohen_kappa, merge_feedback
from workbench.feedback.session import Session
from workbench.feedback.training import FEEDBACK_RECORD, STAGES, run_feedback, train_from_feedback

__all__ = ["CHOICES", "RATINGS", "SIDES", "THUMBS", "STAGES", "FEEDBACK_RECORD", "Candidate", "Pair", "Session",
           "check_name", "feedback_path", "resolve", "list_feedback", "prompts_from", "make_pair",
           "check_sampling", "judgement_record", "record_judgement", "thumb_record", "record_thumb", "undo",
           "rating_record", "record_rating",
           "read_feedback", "feedback_stats", "cohen_kappa", "agreement", "merge_feedback",
           "agreement_with_reward_model", "train_from_feedback", "run_feedback"]
