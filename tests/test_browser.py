"""Every notebook in a real JupyterLab, in headless Chromium, as a learner meets it.

One JupyterLab server and one browser serve all notebooks (copies: the committed files are never touched). For
each notebook: run all cells, then no error output, no failed or unrendered widget, no page error; every Stepper
steps as its trace says (the trace is read from the kernel); sliders outside a Stepper redraw their plot; every
Exercise answers; screenshots land in tests/artifacts/. The click-to-DOM latency of Steppers is printed as a
table at the end of the run (a goal, not an assertion: timing on shared CI machines is noisy).

Without Chromium at /usr/bin/chromium these tests skip locally and fail when the CI variable is set.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab_driver import (CHROMIUM, CHROMIUM_ARGS, FREE_SLIDERS, LabServer, Problems, answer_exercise, click_and_wait,
                        exercise_serial, kernel_exercises, kernel_traces, latency_table, move_slider,
                        notebook_problems, open_notebook, run_all, stepper_state, time_clicks, trim_background,
                        wait_for_widgets, wrong_guess)

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
ARTIFACTS = ROOT / "tests" / "artifacts"
RUN_TIMEOUT_MS = 180_000       # a whole notebook, kernel start included; CI notebooks take well under 15 s
ACTION_TIMEOUT_MS = 30_000
LATENCY_GOAL_MS = 100
CLICKS_PER_NOTEBOOK = 24
VIEWPORT = {"width": 1280, "height": 900}
MAX_SCREENSHOT_PX = 12_000     # a whole notebook; longer ones are cut
MAX_CROP_PX = 900              # a widget's top part: small enough for the README


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"browser tests cannot run in CI: {reason} (.ci/run installs the Debian chromium package)")
    pytest.skip(f"browser tests need {reason}")


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        _unavailable(f"Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright Python package (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def lab(browser):
    server = LabServer(ROOT / "notebooks")
    try:
        yield server
    finally:
        server.stop()


class LatencyReport:
    """Collects click-to-DOM times and prints them as the run's last words (and to tests/artifacts/)."""

    def __init__(self):
        self.times: dict[str, list[float]] = {}

    def pytest_terminal_summary(self, terminalreporter):
        if self.times:
            table = latency_table(self.times, LATENCY_GOAL_MS)
            terminalreporter.write_sep("=", "Stepper click → DOM update (JupyterLab, headless Chromium)")
            terminalreporter.write_line(table)
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            (ARTIFACTS / "latency.txt").write_text(table + "\n")


@pytest.fixture(scope="module")
def latencies(request):
    report = LatencyReport()
    request.config.pluginmanager.register(report, "netlab-browser-latency")
    return report.times


@dataclass
class OpenNotebook:
    name: str
    page: object
    problems: Problems
    prompts: list[str]
    kernel_id: str
    after_run: list[str]  # what was wrong right after Run All (test_runs_without_errors reports it) ...
    errors_after_run: tuple[int, int]  # ... and how many JavaScript and console errors there were by then

    @property
    def stem(self) -> str:
        return Path(self.name).stem


def _open_and_run(browser, lab: LabServer, name: str) -> OpenNotebook:
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
    try:
        page = context.new_page()
        page.set_default_timeout(ACTION_TIMEOUT_MS)
        problems = Problems()
        problems.watch(page)
        open_notebook(page, lab, name)
        prompts = run_all(page, RUN_TIMEOUT_MS)
        kernel_id = next(s["kernel"]["id"] for s in lab.api("sessions") if s["path"].endswith(name))
        wait_for_widgets(page)
    except BaseException:
        context.close()
        lab.shutdown_kernels()
        raise
    return OpenNotebook(name, page, problems, prompts, kernel_id, notebook_problems(page),
                        (len(problems.page_errors), len(problems.console_errors)))


def _close(opened: OpenNotebook, lab: LabServer) -> None:
    try:
        opened.page.context.close()
    finally:
        lab.shutdown_kernels()


@pytest.fixture(scope="module", params=[p.name for p in NOTEBOOKS], ids=[p.stem for p in NOTEBOOKS])
def notebook(request, browser, lab):
    opened = _open_and_run(browser, lab, request.param)
    try:
        yield opened
    finally:
        _close(opened, lab)


def assert_healthy(nb: OpenNotebook, *, new_only: bool = True) -> None:
    """No error output, failed widget, JavaScript or console error (``new_only``: none since Run All finished)."""
    problems = [p for p in notebook_problems(nb.page) if not (new_only and p in nb.after_run)]
    assert not problems, f"{nb.name}: " + "\n".join(problems)
    page_errors, console_errors = nb.errors_after_run if new_only else (0, 0)
    assert not nb.problems.page_errors[page_errors:], f"{nb.name}: JavaScript errors: {nb.problems.page_errors}"
    assert not nb.problems.console_errors[console_errors:], f"{nb.name}: console errors: {nb.problems.console_errors}"


# --- per notebook -------------------------------------------------------------------------------------------------

def test_runs_without_errors(notebook):
    assert_healthy(notebook, new_only=False)
    unrun = [i for i, p in enumerate(notebook.prompts) if not re.fullmatch(r"\[\d+\]:", p)]
    assert notebook.prompts and not unrun, f"{notebook.name}: code cells {unrun} did not run: {notebook.prompts}"


def test_steppers_step_as_the_trace_says(notebook, lab):
    steppers = notebook.page.locator(".netlab-stepper")
    if steppers.count() == 0:
        pytest.skip(f"{notebook.name} has no Stepper")
    traces = kernel_traces(lab.connection_file(notebook.kernel_id))
    for i in range(steppers.count()):
        stepper = steppers.nth(i)
        stepper.scroll_into_view_if_needed()
        state = click_and_wait(stepper, "first step", 0)
        last = int(float(stepper.locator(".noUi-handle").get_attribute("aria-valuemax"))) - 1   # it counts from 1
        candidates = [t for t in traces if len(t) == last + 1]
        assert candidates, \
            f"{notebook.name}: Stepper {i} has {last + 1} steps; the kernel's have {[len(t) for t in traces]}"
        seen = [state["function"]]
        for step in range(1, min(last, 10) + 1):
            state = click_and_wait(stepper, "next step", step)
            assert state["slider"] == step + 1, f"the slider shows {state['slider']}, the explanation step {step + 1}"
            seen.append(state["function"])
        assert any(t[:len(seen)] == seen for t in candidates), \
            f"{notebook.name}: Stepper {i} showed {seen}, not the start of its trace {candidates[0][:len(seen)]}"
        trace = next(t for t in candidates if t[:len(seen)] == seen)
        if last:
            back = click_and_wait(stepper, "back one step", len(seen) - 2)
            assert back["function"] == trace[len(seen) - 2]
        state = click_and_wait(stepper, "last step", last)
        assert state["function"] == trace[-1] and state["slider"] == last + 1
        if i == 0 and last >= 2:  # play runs on its own from the first step; stop returns to it
            click_and_wait(stepper, "first step", 0)
            stepper.locator(".widget-play button:has(.fa-play)").click()
            notebook.page.wait_for_function(
                "el => +el.querySelector('.netlab-step').dataset.step >= 2", arg=stepper.element_handle(),
                timeout=ACTION_TIMEOUT_MS)
            stepper.locator(".widget-play button:has(.fa-stop)").click()
            notebook.page.wait_for_function(
                "el => +el.querySelector('.netlab-step').dataset.step === 0", arg=stepper.element_handle(),
                timeout=ACTION_TIMEOUT_MS)
            assert stepper_state(stepper)["function"] == trace[0]
    assert_healthy(notebook)


def test_stepper_click_latency(notebook, latencies):
    steppers = notebook.page.locator(".netlab-stepper")
    if steppers.count() == 0:
        pytest.skip(f"{notebook.name} has no Stepper")
    used = min(steppers.count(), 3)  # spread the clicks over up to three Steppers
    times = []
    for i in range(used):
        stepper = steppers.nth(i)
        stepper.scroll_into_view_if_needed()
        clicks = CLICKS_PER_NOTEBOOK // used + (i < CLICKS_PER_NOTEBOOK % used)
        times += time_clicks(stepper, clicks, timeout_ms=10_000)
    latencies[notebook.stem] = times
    assert_healthy(notebook)


def test_sliders_redraw_their_plots(notebook):
    sliders = notebook.page.locator(FREE_SLIDERS)
    if sliders.count() == 0:
        pytest.skip(f"{notebook.name} has no slider outside a Stepper")
    for i in range(sliders.count()):
        slider = sliders.nth(i)
        slider.scroll_into_view_if_needed()
        before, after = move_slider(slider)
        if before["images"]:
            assert after["images"] and after["images"] != before["images"], "the plot did not change"
    assert_healthy(notebook)


def test_exercises_answer(notebook, lab):
    exercises = notebook.page.locator(".netlab-exercise")
    if exercises.count() == 0:
        pytest.skip(f"{notebook.name} has no Exercise")
    known = kernel_exercises(lab.connection_file(notebook.kernel_id))
    for i in range(exercises.count()):
        exercise = exercises.nth(i)
        exercise.scroll_into_view_if_needed()
        truth = known[exercise_serial(exercise)]
        first = answer_exercise(exercise, wrong_guess(truth["answer"], truth["choices"]))
        assert first.startswith("Not quite") and "Hint:" in first and "the answer is" not in first, first
        assert answer_exercise(exercise, truth["answer"]).startswith("Right"), f"exercise {i}: its answer is not right"
    assert_healthy(notebook)


def test_screenshots(notebook):
    """The whole notebook, and each kind of widget cropped; look at them in tests/artifacts/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = notebook.page
    steppers = page.locator(".netlab-stepper")
    if steppers.count():  # the first Stepper (the cropped one) a few steps in, with some state to see
        stepper = steppers.first
        last = int(float(stepper.locator(".noUi-handle").get_attribute("aria-valuemax"))) - 1   # it counts from 1
        click_and_wait(stepper, "first step", 0)
        for step in range(1, min(last // 2, 12) + 1):
            click_and_wait(stepper, "next step", step)
    scroller = "document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer')"
    height = page.evaluate(f"() => {scroller}.scrollHeight")  # a viewport as tall as the notebook: no inner scrolling
    page.set_viewport_size({"width": VIEWPORT["width"], "height": min(height + 200, MAX_SCREENSHOT_PX)})
    page.evaluate(f"() => {{ {scroller}.scrollTop = 0; }}")
    page.wait_for_timeout(300)
    page.screenshot(path=ARTIFACTS / f"{notebook.stem}.png")
    crops = {"stepper": steppers, "exercise": page.locator(".netlab-exercise"),
             "plot": page.locator(".jp-OutputArea-output:has(img)")}
    saved = []
    for kind, found in crops.items():
        if found.count():
            found.first.scroll_into_view_if_needed()
            box = found.first.bounding_box()
            path = ARTIFACTS / f"{notebook.stem}-{kind}.png"
            page.screenshot(path=path, clip={**box, "height": min(box["height"], MAX_CROP_PX)})
            trim_background(path)
            saved.append(path)
    page.set_viewport_size(VIEWPORT)
    assert all(p.stat().st_size > 1000 for p in saved)
    assert_healthy(notebook)


# --- the suite itself can fail ------------------------------------------------------------------------------------

def _write_notebook(path: Path, sources: list[str]) -> None:
    cells = [{"cell_type": "code", "metadata": {}, "source": s, "outputs": [], "execution_count": None}
             for s in sources]
    path.write_text(json.dumps({"cells": cells, "metadata": {"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}}, "nbformat": 4, "nbformat_minor": 5}))


PLOT_SLIDER = """\
%matplotlib inline
import ipywidgets as W, matplotlib.pyplot as plt
@W.interact(k=W.IntSlider(min=1, max=4, value=1))
def power(k):
    plt.plot(range(10), [x ** k for x in range(10)])
    plt.show()"""
BROKEN_WIDGET = """\
from traitlets import Unicode
class Broken(W.DOMWidget):
    _view_module = _model_module = Unicode("netlab-no-such-module").tag(sync=True)
    _view_name, _model_name = Unicode("NoView").tag(sync=True), Unicode("NoModel").tag(sync=True)
Broken()"""
CHOICE_EXERCISE = """\
import netlab
netlab.Exercise("Which letter?", answer=lambda: "b", hint="Not the first.", why="b was computed.", choices=["a", "b"])"""


def test_the_suite_sees_plots_redraw_and_catches_broken_notebooks(browser, lab):
    """A plot slider, a multiple-choice exercise, a widget whose JavaScript cannot load, and an exception."""
    probe = lab.root / "browser-self-test.ipynb"
    _write_notebook(probe, [PLOT_SLIDER, CHOICE_EXERCISE, BROKEN_WIDGET, "1 / 0", "print('never runs')"])
    opened = _open_and_run(browser, lab, probe.name)
    try:
        assert re.fullmatch(r"\[\d+\]:", opened.prompts[3]) and not re.search(r"\d", opened.prompts[4])
        before, after = move_slider(opened.page.locator(FREE_SLIDERS).first)
        assert before["images"] and after["images"] != before["images"]
        exercise = opened.page.locator(".netlab-exercise").first
        assert answer_exercise(exercise, "a").startswith("Not quite (you said a). Hint: Not the first.")
        assert "the answer is b" in answer_exercise(exercise, "a")
        problems = notebook_problems(opened.page)
        assert any(p.startswith("widget failed") for p in problems), problems
        assert any("ZeroDivisionError" in p for p in problems), problems
        assert len(problems) == 2, problems
        assert any("netlab-no-such-module" in e for e in opened.problems.console_errors), opened.problems
    finally:
        _close(opened, lab)


@pytest.mark.parametrize("ci, outcome", [("1", pytest.fail.Exception), ("", pytest.skip.Exception)],
                         ids=["CI", "local"])
def test_without_chromium_ci_fails_and_a_laptop_skips(monkeypatch, ci, outcome):
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="Chromium"):
        _unavailable("Chromium at /nowhere")
