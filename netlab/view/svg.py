"""Tiny SVG building blocks for per-step drawings.

Step drawings are small SVG strings put into an HTML widget: building one takes well under a millisecond, so a
Stepper click updates the page at once (a matplotlib redraw takes tens of ms). Plots use matplotlib.
"""
from __future__ import annotations

from html import escape

from netlab import check
from netlab.check import Coordinate

CONTEXT_COLOURS = {"process": "#3b7dd8", "hardirq": "#d64541", "softirq": "#e08a1e", "ksoftirqd": "#8e5bd0"}
LIT, DIM, INK, PAPER = "#ffd54a", "#e9ecef", "#212529", "#ffffff"


@check.arguments
def rect(x: Coordinate, y: Coordinate, w: float, h: float, fill: str = PAPER, stroke: str = INK, rx: float = 3,
         title: str | None = None, **attrs) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{escape(str(v))}"' for k, v in attrs.items())
    tip = f"<title>{escape(title)}</title>" if title else ""
    return (f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="{rx}" fill="{fill}" '
            f'stroke="{stroke}"{extra}>{tip}</rect>')


@check.arguments
def text(x: Coordinate, y: Coordinate, s: str, size: int = 12, anchor: str = "start", fill: str = INK,
         weight: str = "normal", mono: bool = False) -> str:
    family = "monospace" if mono else "sans-serif"
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{fill}" '
            f'font-weight="{weight}" font-family="{family}">{escape(s)}</text>')


@check.arguments
def line(x1: Coordinate, y1: Coordinate, x2: Coordinate, y2: Coordinate, stroke: str = INK, width: float = 1,
         dash: str = "") -> str:
    d = f' stroke-dasharray="{dash}"' if dash else ""
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}" stroke-width="{width}"{d}/>'


@check.arguments
def path(d: str, stroke: str = INK, width: float = 1, fill: str = "none") -> str:
    return f'<path d="{d}" stroke="{stroke}" stroke-width="{width}" fill="{fill}"/>'


@check.arguments
def document(width: float, height: float, body: str, label: str = "") -> str:
    aria = f' role="img" aria-label="{escape(label)}"' if label else ""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}"{aria}>{body}</svg>')


class Picture:
    """A drawing (SVG or HTML) shown as itself in a notebook, and as its plain-text form where HTML does not render
    (like :class:`netlab.view.table.Table`): one output, not the drawing and its text one under the other."""

    @check.arguments
    def __init__(self, html: str, text: str):
        self.html, self.text = html, text

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return self.text
