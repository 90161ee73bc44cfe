"""Drive a real JupyterLab in headless Chromium: a throw-away server, notebook runs, widget checks, timings.

Used by tests/test_browser.py. Everything here is generic over notebooks: what to click is found on the page
(``.netlab-stepper``, ``.netlab-exercise``, sliders outside a Stepper), never listed per notebook.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
#  Settings every test server starts with: all cells attached to the DOM (so off-screen widgets render and can be
#  clicked), and no requests to the internet for news or updates.
LAB_OVERRIDES = {
    "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """``jupyter lab`` from this venv on a free loopback port, serving a copy of ``notebooks``.

    It has its own config, data, runtime, settings and workspace directories under one temporary directory,
    removed by :meth:`stop` together with the server's process group (kernels included).
    """

    def __init__(self, notebooks: Path, *, start_timeout: float = 60.0):
        self.tmp = Path(tempfile.mkdtemp(prefix="netlab-lab-"))
        self.root = self.tmp / "root"
        shutil.copytree(notebooks, self.root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = self.tmp / "server.log"
        self.proc: subprocess.Popen | None = None
        try:
            self._start(start_timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> None:
        dirs = {name: self.tmp / name for name in ("config", "data", "runtime", "ipython", "user-settings",
                                                   "workspaces", "app-settings")}
        for d in dirs.values():
            d.mkdir()
        (dirs["app-settings"] / "overrides.json").write_text(json.dumps(LAB_OVERRIDES))
        env = dict(os.environ, JUPYTER_CONFIG_DIR=str(dirs["config"]), JUPYTER_DATA_DIR=str(dirs["data"]),
                   JUPYTER_RUNTIME_DIR=str(dirs["runtime"]), IPYTHONDIR=str(dirs["ipython"]),
                   JUPYTER_PLATFORM_DIRS="1", PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
        self.runtime = dirs["runtime"]
        args = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
                "--port-retries=0", f"--ServerApp.root_dir={self.root}", f"--IdentityProvider.token={self.token}",
                f"--LabApp.user_settings_dir={dirs['user-settings']}",
                f"--LabApp.workspaces_dir={dirs['workspaces']}", f"--LabApp.app_settings_dir={dirs['app-settings']}",
                "--LabApp.news_url=", "--ServerApp.terminals_enabled=False"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.append("--allow-root")
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(args, cwd=self.root, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}:\n{self.log()}")
            try:
                self.api("status")
                return
            except OSError:
                time.sleep(0.25)
        raise TimeoutError(f"jupyter lab did not answer within {timeout:.0f} s:\n{self.log()}")

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"

    def api(self, path: str, method: str = "GET"):
        request = urllib.request.Request(self.url(f"api/{path}"), method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        for kernel in self.api("kernels"):
            self.api(f"kernels/{kernel['id']}", method="DELETE")

    def connection_file(self, kernel_id: str) -> Path:
        return self.runtime / f"kernel-{kernel_id}.json"

    def log(self, tail: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-tail:] if self.log_path.exists() else ""

    def stop(self) -> None:
        """Shut the kernels down (they run in sessions of their own), then the server; remove every file."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.shutdown_kernels()
            except OSError:
                pass  # no answer: kernels still exit once their parent is gone (ipykernel polls for it)
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        if hasattr(self, "_log"):
            self._log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


# --- what a page shows -------------------------------------------------------------------------------------------

@dataclass
class Problems:
    """Everything on a page that a learner would see as broken."""
    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def watch(self, page) -> None:
        page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)


#  Error outputs and widget views that failed or never rendered in the notebook panel. (Widget outputs carry no
#  data-mime-type; ipywidgets' renderer shows 'Loading widget...' until the view exists, then the view or an error.)
JS_NOTEBOOK_PROBLEMS = r"""
() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const problems = [];
  for (const out of panel.querySelectorAll('.jp-OutputArea-output')) {
    const own = (selector) => [...out.querySelectorAll(selector)]
      .filter(e => e.closest('.jp-OutputArea-output') === out);
    const failed = own('.jupyter-widgets-error-widget');
    if (failed.length)
      problems.push('widget failed: ' + (failed[0].title || 'error view shown'));
    if (out.querySelector('.jp-OutputArea-output')) continue;  // text checks on innermost outputs only
    const kind = out.dataset.mimeType || '';
    const text = out.innerText || '';
    if (kind === 'application/vnd.jupyter.stderr' && /Traceback|\b\w*(Error|Exception)\b/.test(text))
      problems.push('error output: ' + text.slice(0, 800));
    else if (/Traceback \(most recent call last\)/.test(text))
      problems.push('traceback in output: ' + text.slice(0, 800));
    else if (/^Error (displaying|rendering) widget/.test(text))
      problems.push('widget failed: ' + text.slice(0, 300));
    else if (/^Loading widget/.test(text.trim()))
      problems.push('widget never rendered: ' + text.slice(0, 120));
  }
  return problems;
}
"""

JS_RUN_STATE = """
() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')].map(p => p.innerText.trim());
  const status = panel.querySelector('.jp-Notebook-ExecutionIndicator');
  return {prompts, busy: status ? status.dataset.status !== 'idle' : true};
}
"""


def open_notebook(page, lab: LabServer, name: str, timeout_ms: int = 60_000) -> None:
    """Open ``name`` (relative to the server root) in a clean workspace and wait for an idle Python kernel."""
    page.goto(lab.url(f"lab/tree/{name}?reset&token={lab.token}"), timeout=timeout_ms)
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=timeout_ms)
    page.wait_for_function(
        """() => {
          const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
          const name = panel && panel.querySelector('.jp-KernelName');
          const status = panel && panel.querySelector('.jp-Notebook-ExecutionIndicator');
          return name && /Python/.test(name.innerText) && status && status.dataset.status === 'idle';
        }""", timeout=timeout_ms)
    open_tab = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
    if open_tab.count():  # fold the file browser away: the notebook gets the width, screenshots show only it
        open_tab.first.click()


def run_all(page, timeout_ms: int) -> list[str]:
    """Run all cells through the command palette; wait until nothing is queued. Returns the input prompts."""
    page.locator(".jp-NotebookPanel .jp-Cell").first.click()
    page.keyboard.press("Control+Shift+C")
    page.locator(".lm-CommandPalette-input").fill("Run All Cells")
    page.locator(".lm-CommandPalette-item", has_text="Run All Cells").first.click()
    state = f"({JS_RUN_STATE})()"
    page.wait_for_function(  # started: a cell is queued or running, or every cell has already run
        f"""() => {{ const s = {state};
                    return s.prompts.some(p => p.includes('*')) || s.prompts.every(p => /\\d/.test(p)); }}""",
        timeout=15_000)
    page.wait_for_function(f"() => {{ const s = {state}; return !s.busy && s.prompts.every(p => !p.includes('*')); }}",
                           timeout=timeout_ms, polling=250)
    return page.evaluate(JS_RUN_STATE)["prompts"]


def wait_for_widgets(page, timeout_ms: int = 15_000) -> None:
    """Wait until no widget output says 'Loading widget...'; one that never renders is left to notebook_problems."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            """() => ![...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output')]
                      .some(o => /^Loading widget/.test((o.innerText || '').trim()))""", timeout=timeout_ms)
    except PlaywrightTimeout:
        pass


def notebook_problems(page) -> list[str]:
    return page.evaluate(JS_NOTEBOOK_PROBLEMS)


# --- steppers -----------------------------------------------------------------------------------------------------

def stepper_state(stepper) -> dict:
    """The step a Stepper's explanation shows (its index, from 0), and its slider (which counts from 1)."""
    return stepper.evaluate(
        """(el) => {
          const step = el.querySelector('.netlab-step');
          const slider = el.querySelector('.widget-slider .widget-readout');
          return {step: step ? +step.dataset.step : null, function: step ? step.dataset.function : null,
                  slider: slider ? +slider.innerText : null};
        }""")


def click_and_wait(stepper, tooltip: str, expect_step: int, timeout_ms: int = 10_000) -> dict:
    stepper.locator(f'button[title="{tooltip}"]').click()
    stepper.page.wait_for_function(
        "([el, n]) => { const s = el.querySelector('.netlab-step'); return s && +s.dataset.step === n; }",
        arg=[stepper.element_handle(), expect_step], timeout=timeout_ms)
    return stepper_state(stepper)


#  Click next/back inside the page and time each click until the explanation shows the new step
#  (the MutationObserver fires on the DOM change the kernel's reply causes).
JS_TIME_CLICKS = """
async ([el, clicks, timeoutMs, pauseMs]) => {
  const max = el.querySelector('.widget-slider').querySelector('[aria-valuemax]')?.getAttribute('aria-valuemax') - 1;
  const button = (tip) => el.querySelector(`button[title="${tip}"]`);
  const current = () => { const s = el.querySelector('.netlab-step'); return s ? +s.dataset.step : -1; };
  const times = [];
  if (!(max > 0)) return times;  // a one-step trace: nothing to click through
  let direction = 1;
  for (let i = 0; i < clicks; i++) {
    const from = current();
    if (from >= max) direction = -1;
    if (from <= 0) direction = 1;
    const want = from + direction;
    const done = new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        obs.disconnect();
        reject(new Error(`step ${want} not shown in ${timeoutMs} ms`));
      }, timeoutMs);
      const obs = new MutationObserver(() => {
        if (current() === want) { clearTimeout(timer); obs.disconnect(); resolve(performance.now()); }
      });
      obs.observe(el, {subtree: true, childList: true, characterData: true, attributes: true});
    });
    const t0 = performance.now();
    button(direction > 0 ? 'next step' : 'back one step').click();
    times.push((await done) - t0);
    await new Promise(r => setTimeout(r, pauseMs));
  }
  return times;
}
"""


def time_clicks(stepper, clicks: int = 24, timeout_ms: int = 10_000, pause_ms: int = 150) -> list[float]:
    """Milliseconds from each click to the new step on screen; clicks ``pause_ms`` apart (a quick learner)."""
    return stepper.evaluate(f"(el) => ({JS_TIME_CLICKS})([el, {clicks}, {timeout_ms}, {pause_ms}])")


def kernel_json(connection_file: Path, code: str, timeout: float = 30.0):
    """Run ``code`` in the notebook's kernel through a second client; what it prints is JSON, returned decoded."""
    from jupyter_client import BlockingKernelClient

    client = BlockingKernelClient(connection_file=str(connection_file))
    client.load_connection_file()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=timeout)
        out: list[str] = []
        reply = client.execute_interactive(code, silent=False, store_history=False, timeout=timeout,
                                           output_hook=lambda m: out.append(m["content"].get("text", ""))
                                           if m["msg_type"] == "stream" else None)
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"asking the kernel failed: {reply['content']}")
        return json.loads("".join(out))
    finally:
        client.stop_channels()


def kernel_traces(connection_file: Path) -> list[list[str]]:
    """The function of every step of every Stepper alive in the kernel."""
    return kernel_json(connection_file, (
        "import gc as _gc, json as _json\nfrom netlab.view.stepper import Stepper as _S\n"
        "print(_json.dumps([[e.function for e in _o.trace] for _o in _gc.get_objects() if isinstance(_o, _S)]))"))


def kernel_exercises(connection_file: Path) -> dict[str, dict]:
    """Every Exercise alive in the kernel by its serial number: its computed answer and its choices."""
    return kernel_json(connection_file, (
        "import gc as _gc, json as _json\nfrom netlab.exercises import Exercise as _E\n"
        "print(_json.dumps({_o.serial: {'answer': _o.solution(), 'choices': _o.choices} "
        "for _o in _gc.get_objects() if isinstance(_o, _E)}))"), timeout=120.0)


# --- timing table -------------------------------------------------------------------------------------------------

def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def latency_table(latencies: dict[str, list[float]], goal_ms: float) -> str:
    lines = [f"{'notebook':<28} {'clicks':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  goal p95 <= {goal_ms:.0f} ms"]
    for name, times in latencies.items():
        p95 = percentile(times, 95)
        lines.append(f"{name:<28} {len(times):>6} {percentile(times, 50):>8.1f} {p95:>8.1f} {max(times):>8.1f}  "
                     f"{'ok' if p95 <= goal_ms else 'MISSED'}")
    return "\n".join(lines)


# --- sliders and exercises ----------------------------------------------------------------------------------------

FREE_SLIDERS = ".widget-slider:not(.netlab-stepper .widget-slider)"  # sliders a notebook made, not a Stepper's

#  What the cell holding ``el`` shows, apart from its sliders: its images (plots), the text of its other outputs,
#  and the markup of the output holding the slider (a widget may draw an SVG next to its own slider).
JS_CELL_VIEW = """
(el) => {
  const cell = el.closest('.jp-Cell');
  const outputs = [...cell.querySelectorAll('.jp-OutputArea-output')];
  const shown = o => {
    if (!o.contains(el)) return o.innerText;
    const copy = o.cloneNode(true);
    copy.querySelectorAll('.widget-slider').forEach(s => s.remove());
    return copy.innerHTML;
  };
  return {images: [...cell.querySelectorAll('.jp-OutputArea-output img')].map(i => i.src),
          text: outputs.map(shown).join('\\n')};
}
"""


def move_slider(slider, timeout_ms: int = 20_000) -> tuple[dict, dict]:
    """Move ``slider`` one step with the keyboard, as a learner would; wait until its cell shows something new.

    Returns what the cell showed before and after. A cell with a plot must show a new plot (the image changes).
    """
    handle = slider.locator(".noUi-handle").first
    now, top = float(handle.get_attribute("aria-valuenow")), float(handle.get_attribute("aria-valuemax"))
    before = slider.evaluate(JS_CELL_VIEW)
    handle.focus()
    handle.press("ArrowLeft" if now >= top else "ArrowRight")
    slider.page.wait_for_function(
        f"""([el, before]) => {{
              const now = ({JS_CELL_VIEW})(el);
              if (before.images.length) return now.images.length > 0 && now.images.join() !== before.images.join();
              return now.text !== before.text;
            }}""", arg=[slider.element_handle(), before], timeout=timeout_ms)
    slider.page.wait_for_timeout(300)  # let an interact redraw finish before the next look
    return before, slider.evaluate(JS_CELL_VIEW)


def answer_exercise(exercise, guess, timeout_ms: int = 20_000) -> str:
    """Give ``guess`` (a choice's text, or a number) and press Check; returns the feedback text shown."""
    old = exercise.locator(".netlab-feedback")
    before = old.inner_text() if old.count() else None
    if isinstance(guess, str):
        exercise.locator("label", has_text=guess).first.locator("input[type=radio]").check()
    else:
        exercise.locator("input[type=text]").first.fill(str(guess))
    exercise.locator("button", has_text="Check").click()
    exercise.page.wait_for_function(
        "([el, before]) => { const f = el.querySelector('.netlab-feedback'); return f && f.innerText !== before; }",
        arg=[exercise.element_handle(), before], timeout=timeout_ms)
    return exercise.locator(".netlab-feedback").inner_text()


def exercise_serial(exercise) -> str:
    """The serial number an Exercise's box carries in its class list (``netlab-exercise-7``)."""
    return next(c.rsplit("-", 1)[1] for c in exercise.get_attribute("class").split()
                if c.startswith("netlab-exercise-"))


def wrong_guess(answer, choices):
    """A guess that is not the answer: another choice, or a number far from it."""
    if choices:
        return next(c for c in choices if c != answer)
    return answer * 3 + 7 if isinstance(answer, (int, float)) else 7


def trim_background(path: Path, margin: int = 8) -> None:
    """Cut the empty (white) border off a screenshot, keeping ``margin`` pixels: output areas are wider than plots."""
    from PIL import Image, ImageChops

    with Image.open(path) as image:
        image = image.convert("RGB")
    box = ImageChops.difference(image, Image.new("RGB", image.size, "white")).getbbox()
    if box:
        left, top, right, bottom = box
        image.crop((max(left - margin, 0), max(top - margin, 0), min(right + margin, image.width),
                    min(bottom + margin, image.height))).save(path, optimize=True)
