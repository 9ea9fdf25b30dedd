"""The Feedback tab in a real headless browser (Debian's chromium, driven by Playwright) on the
tiny model: rate three prompts with a keyboard shortcut, a button and a corrected answer, give the
first pair's answers a thumbs up and down by their keys, then read the feedback file and check that
its rows are what the page showed.

The app, the browser and the page helpers are those of tests/test_ui_browser.py.
"""

import json
from pathlib import Path

import pytest

from test_ui_browser import CHROMIUM, SHOTS, browser_page, choose, fill, open_tab, server, text  # noqa: F401 (server: fixture)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent: install Debian's chromium"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

NAME = "browser-feedback"
PROMPTS = ["Name a colour.", "What is two plus two?", "Say hello."]


@pytest.fixture(scope="module")
def page(server):  # noqa: F811
    SHOTS.mkdir(parents=True, exist_ok=True)  # (test_ui_browser's page fixture empties the folder)
    with browser_page(server[0]) as page:
        yield page


def answers(page) -> tuple[str, str]:
    return tuple(page.locator(f"#fb-answer-{side} textarea").input_value() for side in "ab")


def next_pair(page, prompt: str) -> tuple[str, str]:
    """Wait until the pair for `prompt` is on show, and return its answers (A, B)."""
    page.wait_for_function(
        """(prompt) => document.querySelector('#fb-prompt').innerText.includes(prompt)
           && !['', '…'].includes(document.querySelector('#fb-answer-b textarea').value)""", arg=prompt)
    return answers(page)


def status_says(page, words: str) -> None:
    page.wait_for_function("(words) => document.querySelector('#fb-status').innerText.includes(words)", arg=words)


def test_rate_three_prompts_and_read_the_file(page, server):  # noqa: F811
    choose(page, "model", "tiny")  # 'base' is this model
    open_tab(page, "Feedback")
    fill(page, "fb-prompts", "\n".join(PROMPTS))
    fill(page, "fb-name", NAME)
    fill(page, "fb-rater", "tester")
    fill(page, "fb-max-new", "8")
    page.locator("#fb-start").click()

    shown = [next_pair(page, PROMPTS[0])]
    page.locator("#fb-prompt").click()  # focus out of the text boxes: shortcuts apply
    page.keyboard.press("q")  # A 👍
    status_says(page, "A 👍")  # one at a time: each thumb's status names the thumbs given so far
    page.keyboard.press("l")  # B 👎
    status_says(page, "B 👎")
    assert answers(page) == shown[0]  # a thumb keeps the pair on show
    page.keyboard.press("1")  # A is better
    shown.append(next_pair(page, PROMPTS[1]))
    assert "Saved: A is better" in text(page, "fb-status")
    page.locator("#fb-edit-b").click()  # start the correction from answer B
    page.wait_for_function("document.querySelector('#fb-correction textarea').value.length > 0")
    assert page.locator("#fb-correction textarea").input_value() == shown[1][1]
    corrected = "Two plus two is four."
    box = page.locator("#fb-correction textarea")
    box.fill(corrected)
    box.press("1")  # typing in a box is not a shortcut: this types a '1'
    assert box.input_value() == corrected + "1"
    box.fill(corrected)
    page.locator("#fb-b").click()  # B is better, corrected
    shown.append(next_pair(page, PROMPTS[2]))
    page.locator("#fb-prompt").click()
    page.keyboard.press("t")  # a tie
    page.wait_for_function("document.querySelector('#fb-prompt').innerText.includes('All prompts are rated')")
    counter = text(page, "fb-counter")
    assert "2 pairs for training" in counter and "1 ties" in counter and "5 judged in this session" in counter
    assert "1 thumbs up, 1 down" in counter
    page.screenshot(path=str(SHOTS / "6-feedback-rated.png"), full_page=True)

    lines = (server[1] / "feedback" / f"{NAME}.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    thumbs = [r for r in rows if "thumb" in r]
    rows = [r for r in rows if "thumb" not in r]
    assert [(r["completion"], r["label"], r["side"]) for r in thumbs] == [
        (shown[0][0], True, "left"), (shown[0][1], False, "right")]
    assert len(rows) == 3 and all(r["rater"] == "tester" for r in rows)
    assert [r["prompt"][0]["content"] for r in rows] == PROMPTS
    (a0, b0), (a1, b1), (a2, b2) = shown
    assert (rows[0]["chosen"], rows[0]["rejected"], rows[0]["chosen_side"]) == (a0, b0, "left")
    assert (rows[1]["chosen"], rows[1]["chosen_original"], rows[1]["rejected"]) == (corrected, b1, a1)
    assert rows[1]["chosen_side"] == "right"
    assert rows[2]["tie"] is True and (rows[2]["chosen"], rows[2]["rejected"]) == (a2, b2)
    assert all(r["chosen_model"] == r["rejected_model"] == "base" for r in rows)
    assert all(r["chosen_seed"] != r["rejected_seed"] for r in rows)
