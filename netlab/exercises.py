"""Predict-then-check exercises: the learner commits to an answer, then the model or the live kernel decides.

The right answer is never typed into a notebook: ``answer`` is a callable that runs the model (or a measurement)
when the learner presses *Check*, so the feedback always agrees with the code the chapter teaches. A wrong first
try gets the ``hint`` and a second try; only a second wrong try (or a right one) shows the answer and why.

    Exercise("How many connections wait in an accept queue of listen(5)?", answer=lambda: model.capacity(5),
             hint="Read the test in sk_acceptq_is_full: is it > or >=?",
             why="The full test is `>`, not `>=`: backlog+1 fit.").widget
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from html import escape
from typing import Any, Callable, Sequence

import ipywidgets as W

from netlab import check
from netlab.units import number


@dataclass(frozen=True)
class Feedback:
    correct: bool
    message: str
    answer_shown: bool

    def __str__(self) -> str:
        return self.message


class Exercise:
    """A question with a computed answer.

    ``choices`` makes it multiple choice (the answer is one of them); otherwise the answer is a number and a
    guess within ``tolerance`` (relative, e.g. 0.1 for 10 %) counts as right. ``hint`` is shown after the first
    wrong try (it must not give the answer away); ``why`` explains the answer, as a str or a callable taking the
    answer, once it is shown.
    """

    TRIES = 2
    """Tries before the answer is shown."""
    _serials = itertools.count()

    @check.arguments
    def __init__(self, question: str, answer: Callable[[], Any], *, hint: str, why: str | Callable[[Any], str],
                 choices: Sequence[str] | None = None, tolerance: float = 0.0, unit: str = ""):
        if not isinstance(question, str) or not question.strip():
            raise ValueError("question must be a non-empty str")
        if not callable(answer):
            raise TypeError("answer must be a callable that computes it from a model or a measurement")
        if not isinstance(hint, str) or not hint.strip():
            raise ValueError("hint must be a non-empty str: what to think about after a wrong first try")
        if not (isinstance(why, str) or callable(why)):
            raise TypeError("why must be a str or a callable(answer) -> str")
        if choices is not None and (len(choices) < 2 or not all(isinstance(c, str) for c in choices)):
            raise ValueError("choices must be at least two str options")
        if not isinstance(tolerance, (int, float)) or not 0 <= tolerance < 1:
            raise ValueError("tolerance must be a relative tolerance in [0, 1)")
        self.question, self.answer, self.hint, self.why = question, answer, hint, why
        self.wrong_tries = 0
        self.serial = next(self._serials)     # names its box in the page (netlab-exercise-N), for the browser test
        self.choices, self.tolerance, self.unit = (list(choices) if choices else None), float(tolerance), unit
        self._widget: W.Widget | None = None

    def solution(self) -> Any:
        value = self.answer()
        if self.choices is not None and value not in self.choices:
            raise ValueError(f"the computed answer {value!r} is not one of the choices {self.choices}")
        return value

    def check(self, guess: Any) -> Feedback:
        """Compare ``guess`` with the computed answer: right, or the hint after a first wrong try, or the answer
        and why after the second."""
        truth = self.solution()
        said = guess.strip() if isinstance(guess, str) else guess
        if self.choices is not None:
            if guess not in self.choices:
                raise ValueError(f"choose one of {self.choices}")
            correct = guess == truth
        else:
            if isinstance(guess, str):
                try:
                    guess = float(guess.strip())
                except ValueError:
                    raise ValueError(f"type a number, got {guess!r}") from None
            if not isinstance(guess, (int, float)) or isinstance(guess, bool) or not math.isfinite(guess):
                raise TypeError("the guess must be a finite number")
            correct = math.isclose(guess, truth, rel_tol=self.tolerance, abs_tol=1e-9)
        why = self.why(truth) if callable(self.why) else self.why
        shown = number(truth) if isinstance(truth, (int, float)) and not isinstance(truth, bool) else str(truth)
        if self.choices is not None and shown[:1].isupper() and shown[1:2].islower():
            shown = shown[0].lower() + shown[1:]    # a choice inside the sentence: "the answer is it keeps growing"
        unit = f" {self.unit}" if self.unit else ""
        if correct:
            return Feedback(True, f"Right: the answer is {shown}{unit}. {why}", True)
        self.wrong_tries += 1
        if self.wrong_tries < self.TRIES:
            return Feedback(False, f"Not quite (you said {said}). Hint: {self.hint} Try once more.", False)
        return Feedback(False, f"Not quite (you said {said}): the answer is {shown}{unit}. {why}", True)

    @property
    def widget(self) -> W.Widget:
        if self._widget is None:
            self._widget = self._build()
        return self._widget

    def _build(self) -> W.Widget:
        if self.choices is not None:
            entry = W.RadioButtons(options=self.choices, value=None, layout=W.Layout(width="auto"))
        else:
            entry = W.Text(placeholder=f"your prediction{' in ' + self.unit if self.unit else ''}",
                           layout=W.Layout(width="220px"))
        button = W.Button(description="Check", button_style="primary", layout=W.Layout(width="90px"))
        result = W.HTML()

        def on_check(_):
            try:
                fb = self.check(entry.value)
            except (TypeError, ValueError) as e:
                result.value = f'<span style="color:#c92a2a">{escape(str(e))}</span>'
                return
            colour = "#2b8a3e" if fb.correct else "#c92a2a" if fb.answer_shown else "#e67700"
            result.value = f'<span class="netlab-feedback" style="color:{colour}">{escape(fb.message)}</span>'

        button.on_click(on_check)
        box = W.VBox([W.HTML(f"<b>Predict:</b> {escape(self.question)}"), W.HBox([entry, button]), result],
                     layout=W.Layout(border="1px solid #dee2e6", padding="6px", margin="4px 0"))
        box.add_class("netlab-exercise")
        box.add_class(f"netlab-exercise-{self.serial}")
        self.entry, self.button, self.result = entry, button, result
        return box

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = self.text()
        return bundle

    def text(self) -> str:
        options = "".join(f"\n  ( ) {c}" for c in self.choices) if self.choices else ""
        return f"Predict: {self.question}{options}\n  → call .check(your_answer) to see the answer"
