"""The Stepper: walk through any trace one kernel function at a time.

Buttons first / back / play / next / last and a slider choose the step; two menus jump ahead to where the trace
next enters a layer of the stack (driver, IP, TCP, …) or next calls a function. The panel shows where the step runs
(CPU, context, time), the kernel function with a link to its source line, whether the learner's kernel has it, what
it does and what it changed; then the scenario's drawing of the state at that step and, beside it, the layers of the
stack (:mod:`netlab.view.overview`) and the call path (:mod:`netlab.view.callgraph`), the current step lit in both.
Each step's HTML is built once and cached, and only the two HTML widgets whose text changed are updated, so a
click costs one small message to the browser. Nothing is rendered, and ``/proc/kallsyms`` is not read, until the
Stepper is shown or driven: building one does no I/O.
"""
from __future__ import annotations

from functools import cached_property
from html import escape
from typing import Callable

import ipywidgets as W

from netlab import check
from netlab.kernel.source_index import LAYERS, layer_of, source_url
from netlab.live.kallsyms import FOUND, in_your_kernel
from netlab.live.result import LiveResult
from netlab.trace import Event, Trace
from netlab.view import svg
from netlab.view.callgraph import WIDTH as PATH_WIDTH, CallGraph
from netlab.view.overview import Overview
from netlab.view.text import changes as text_changes, header, runs, step_text

Drawing = Callable[[Event], str]
RIGHT_MIN_PX = PATH_WIDTH
"""The narrowest the overview and call path get beside a drawing before they move under it: the call path's
widest, so it is always drawn at full size."""
Label = Callable[[Event], str]


class Stepper:
    """A widget over ``trace``. ``draw(event)`` returns an SVG/HTML drawing of ``event.state`` (optional);
    ``label(event)`` a few words the header shows after the time (optional: a scenario's "chapter 05 · handshake").

    Drive it from code as a learner would with the buttons: ``next()``, ``back()``, ``first()``, ``last()``,
    ``go(i)``; ``text()`` is the current step in plain text; ``widget`` is what a notebook displays. With
    ``check_kernel``, each step says whether the learner's kernel has its function (``/proc/kallsyms``, read the
    first time a step is shown, once).
    """

    @check.arguments
    def __init__(self, trace: Trace, draw: Drawing | None = None, *, title: str = "", version: str = "6.12",
                 show_path: bool = True, show_overview: bool = True, check_kernel: bool = True,
                 play_interval_ms: int = 700,
                 label: Label | None = None):
        if not isinstance(trace, Trace):
            raise TypeError("Stepper takes a Trace (record one with netlab.trace.Tracer)")
        if len(trace) == 0:
            raise ValueError("the trace is empty: nothing to step through")
        if draw is not None and not callable(draw):
            raise TypeError("draw must be a callable(event) -> SVG/HTML str, or None")
        if label is not None and not callable(label):
            raise TypeError("label must be a callable(event) -> str, or None")
        if not isinstance(check_kernel, bool):
            raise TypeError("check_kernel must be True or False")
        if version not in ("3.10", "6.12"):
            raise ValueError("version must be '3.10' or '6.12' (the kernel tree the source links open)")
        if not isinstance(play_interval_ms, int) or play_interval_ms < 50:
            raise ValueError("play_interval_ms must be an int >= 50")
        self.trace, self.draw, self.label, self.title, self.version = trace, draw, label, title, version
        self.check_kernel = check_kernel
        self.path = CallGraph(trace) if show_path else None
        self.overview = Overview(trace) if show_overview else None
        self._cache: dict[int, tuple[str, str]] = {}
        self._build(play_interval_ms)

    @property
    def widget(self) -> W.VBox:
        """The widget to display; the current step is rendered when it is first asked for."""
        if not self.explanation.value:
            self._render(self.index)
        return self._widget

    @cached_property
    def kernel(self) -> LiveResult | None:
        """Which of the trace's functions the running kernel has (None without ``check_kernel``)."""
        return in_your_kernel(self.trace.functions()) if self.check_kernel else None

    # --- driving ---------------------------------------------------------------------------------------
    @property
    def index(self) -> int:
        return self.slider.value - 1      # the slider counts steps from 1, as the step's header does

    @check.arguments
    def go(self, index: int) -> None:
        self._check_step(index)
        if self.slider.value != index + 1:
            self.slider.value = index + 1  # the observer renders
        else:
            self._render(index)

    def next(self) -> None:
        self.go(min(self.index + 1, len(self.trace) - 1))

    def back(self) -> None:
        self.go(max(self.index - 1, 0))

    @cached_property
    def landmarks(self) -> dict[str, dict[str, list[int]]]:
        """Where to jump: ``"layers"`` → each layer of the stack (:data:`LAYERS` order) → the steps where the trace
        enters it (a call whose caller is in another layer, or none); ``"functions"`` → each function (in order of
        first call) → the steps that call it."""
        layers: dict[str, list[int]] = {}
        functions: dict[str, list[int]] = {}
        graph = self.path or CallGraph(self.trace)
        for i, e in enumerate(self.trace):
            if e.kind != "call":
                continue
            functions.setdefault(e.function, []).append(i)
            layer, caller = layer_of(e.source, e.function), graph.paths[i][-1].parent
            if caller is None or layer_of(caller.source, caller.function) != layer:
                layers.setdefault(layer, []).append(i)
        order = [name for name, _ in LAYERS] + ["other"]
        return {"layers": {name: layers[name] for name in order if name in layers}, "functions": functions}

    @check.arguments
    def go_to_layer(self, layer: str) -> None:
        """Go to the next step (after this one, else the first) where the trace enters ``layer``."""
        self._go_ahead(self.landmarks["layers"], layer, "layer")

    @check.arguments
    def go_to_function(self, function: str) -> None:
        """Go to the next step (after this one, else the first) that calls ``function``."""
        self._go_ahead(self.landmarks["functions"], function, "function")

    def _go_ahead(self, marks: dict[str, list[int]], name: str, what: str) -> None:
        if name not in marks:
            raise ValueError(f"{what} must be one of this trace's: {', '.join(marks)}; got {name!r}")
        steps = marks[name]
        self.go(next((i for i in steps if i > self.index), steps[0]))

    def first(self) -> None:
        self.go(0)

    def last(self) -> None:
        self.go(len(self.trace) - 1)

    @property
    def event(self) -> Event:
        return self.trace[self.index]

    @check.arguments
    def text(self, index: int | None = None) -> str:
        index = self.index if index is None else self._check_step(index)
        found = self.kernel
        return step_text(self.trace, index, found.value if found is not None and found.available else None,
                         self._label(index))

    def _check_step(self, index: int) -> int:
        if not isinstance(index, int) or not 0 <= index < len(self.trace):
            raise ValueError(f"step must be an int in 0..{len(self.trace) - 1}, got {index!r}")
        return index

    # --- rendering ---------------------------------------------------------------------------------------
    def _build(self, interval: int) -> None:
        n = len(self.trace)
        button = lambda icon, tip, act: self._button(icon, tip, act)  # noqa: E731
        self.buttons = {
            "first": button("step-backward", "first step", self.first),
            "back": button("chevron-left", "back one step", self.back),
            "next": button("chevron-right", "next step", self.next),
            "last": button("step-forward", "last step", self.last),
        }
        self.slider = W.IntSlider(value=1, min=1, max=n, description="step", continuous_update=True,
                                  readout=True, layout=W.Layout(width="420px"))
        self.play = W.Play(value=1, min=1, max=n, interval=interval, description="play",
                           show_repeat=False, layout=W.Layout(width="auto"))
        W.jslink((self.play, "value"), (self.slider, "value"))
        self.slider.observe(lambda change: self._render(change["new"] - 1), names="value")
        self.explanation = W.HTML(layout=W.Layout(min_height="96px"))
        self.drawing = W.HTML()
        controls = W.HBox([self.buttons["first"], self.buttons["back"], self.play, self.buttons["next"],
                           self.buttons["last"], self.slider])
        self.menus = {"layer": self._menu("next in", "layer of the stack…", self.landmarks["layers"],
                                          self.go_to_layer, "times"),
                      "function": self._menu("next call of", "function…", self.landmarks["functions"],
                                             self.go_to_function, "calls")}
        parts = [W.HTML(f"<b>{escape(self.title)}</b>")] if self.title else []
        menus = W.HBox(list(self.menus.values()))
        self._widget = W.VBox(parts + [controls, menus, self.explanation, self.drawing],
                              layout=W.Layout(border="1px solid #dee2e6", padding="6px"))
        self._widget.add_class("netlab-stepper")

    @staticmethod
    def _menu(description: str, prompt: str, marks: dict[str, list[int]], jump: Callable[[str], None],
              unit: str) -> W.Dropdown:
        """A menu that jumps ahead each time an entry is chosen (and then shows its prompt again)."""
        options = [(prompt, "")] + [(f"{name} ({len(steps):,} {unit})" if len(steps) > 1 else name, name)
                                    for name, steps in marks.items()]   # "", not None: None would select nothing
        menu = W.Dropdown(options=options, index=0, description=description,
                          layout=W.Layout(width="320px"), style={"description_width": "initial"})

        def chosen(change) -> None:
            if change["new"]:
                jump(change["new"])
                menu.index = 0

        menu.observe(chosen, names="value")
        return menu

    @staticmethod
    def _button(icon: str, tip: str, action: Callable[[], None]) -> W.Button:
        b = W.Button(icon=icon, tooltip=tip, layout=W.Layout(width="36px"))
        b.on_click(lambda _: action())
        return b

    def _label(self, index: int) -> str:
        """The scenario's label of step ``index`` ("" without ``label``)."""
        if self.label is None:
            return ""
        text = self.label(self.trace[index])
        if not isinstance(text, str):
            raise TypeError(f"label(event) must return a str, got {type(text).__name__}")
        return text

    def _html(self, index: int) -> tuple[str, str]:
        if index not in self._cache:
            self._cache[index] = (self._explain(index), self._draw(index))
        return self._cache[index]

    def _explain(self, index: int) -> str:
        e = self.trace[index]
        colour = svg.CONTEXT_COLOURS[e.context]
        badge, found = "", self.kernel
        if found is not None and not found.available:
            badge = f' <span style="color:#868e96" title="{escape(str(found))}">kallsyms not readable</span>'
        elif found is not None and e.function in found.value:
            badge = (' <span class="netlab-ok" style="color:#2b8a3e">✓ in your kernel</span>'
                     if found.value[e.function] == FOUND else
                     ' <span style="color:#868e96">not in your kallsyms (inlined or static)</span>')
        link = (f'<a href="{source_url(e.function, self.version)}" target="_blank" rel="noopener">'
                f'{escape(e.source)}</a>' if e.source != "-" else "")
        changes = "".join(f"<li>{escape(where)}: {escape(before)} → <b>{escape(after)}</b></li>"
                          for where, before, after in text_changes(self.trace, index))
        return (f'<div class="netlab-step" data-step="{index}" data-function="{escape(e.function)}">'
                f'<span style="color:{colour}">■</span> {escape(header(self.trace, index, self._label(index)))}<br>'
                f'<code style="font-size:1.1em">{escape(runs(e))}</code> {link}{badge}<br>'
                f'{escape(e.text)}'
                f'{"<ul style=margin:2px;font-size:0.9em;line-height:1.3>" + changes + "</ul>" if changes else ""}</div>')

    def _draw(self, index: int) -> str:
        """The state drawing on the left; on the right the layers of the stack and the call path, current lit. The
        right column takes the width left over, at least ``RIGHT_MIN_PX`` (else it moves under the drawing), and
        the call path is never wider, so it is never shrunk; should the page be narrower still, it scrolls."""
        left = (f'<div class="netlab-state" style="flex:0 0 auto">{self.draw(self.trace[index])}</div>'
                if self.draw is not None else "")
        right = ""
        if self.overview is not None:
            fit = '<svg style="max-width:100%;height:auto" '
            right += f'<div class="netlab-overview">{self.overview.svg(index).replace("<svg ", fit, 1)}</div>'
        if self.path is not None:
            right += f'<div class="netlab-path" style="overflow-x:auto">{self.path.svg(index)}</div>'
        column = (f'<div style="display:flex;flex-direction:column;gap:6px;flex:1 1 {RIGHT_MIN_PX}px;'
                  f'min-width:{RIGHT_MIN_PX}px">{right}</div>' if right else "")
        return f'<div style="display:flex;gap:16px;align-items:flex-start;flex-wrap:wrap">{left}{column}</div>'

    def _render(self, index: int) -> None:
        explanation, drawing = self._html(index)
        if self.explanation.value != explanation:
            self.explanation.value = explanation
        if self.drawing.value != drawing:
            self.drawing.value = drawing

    # --- display -----------------------------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = self.text()
        return bundle

    def __repr__(self) -> str:
        return self.text()
