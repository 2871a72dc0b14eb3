"""The demo's live timeline: one printed line per event (elapsed time, app, what happened), kept for
the end-of-story summary (time to recovery per incident).

It only formats and remembers what the story tells it; it must not watch or query anything itself.
Output goes through ``rich`` to any file-like object, so tests read the same text people see.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from rich.console import Console
from rich.markup import escape
from rich.table import Table

# kind -> (symbol, style)
STYLES: dict[str, tuple[str, str]] = {
    "step": ("▶", "bold cyan"),
    "deploy": ("⇡", "blue"),
    "synced": ("⟳", "dim"),
    "burn": ("🔥", "bold red"),
    "load": ("⇈", "yellow"),
    "drift": ("≠", "magenta"),
    "heal": ("✚", "bold green"),
    "pr": ("⇄", "green"),
    "merged": ("⤵", "green"),
    "verified": ("✔", "bold green"),
    "recovered": ("✔", "green"),
    "failed": ("✘", "bold red"),
    "info": ("·", "dim"),
}


@dataclass(frozen=True)
class Event:
    at: float  # seconds since the timeline started
    app: str
    kind: str
    text: str


class Timeline:
    def __init__(self, output: TextIO, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.console = Console(file=output, highlight=False, soft_wrap=True, emoji=False)
        self._clock = clock
        self.started = clock()
        self.events: list[Event] = []
        self._lock = threading.Lock()

    def elapsed(self) -> float:
        return self._clock() - self.started

    def add(self, app: str, kind: str, text: str) -> Event:
        event = Event(round(self.elapsed(), 1), app, kind, text)
        symbol, style = STYLES.get(kind, STYLES["info"])
        with self._lock:
            self.events.append(event)
            self.console.print(
                f"[dim]{event.at:6.1f}s[/dim]  [bold]{escape(app or '-'):<9}[/bold] "
                f"[{style}]{symbol} {escape(text)}[/{style}]"
            )
        return event

    def step(self, text: str) -> Event:
        self.console.print()
        return self.add("", "step", text)

    def first(self, kind: str, app: str | None = None, after: float = 0.0) -> Event | None:
        with self._lock:
            return next(
                (
                    e
                    for e in self.events
                    if e.kind == kind and (app is None or e.app == app) and e.at >= after
                ),
                None,
            )

    def count(self, kind: str) -> int:
        with self._lock:
            return sum(1 for e in self.events if e.kind == kind)


@dataclass(frozen=True)
class Recovery:
    incident: str
    start: Event | None
    end: Event | None
    measure: str  # what the end event means, e.g. "bad commit -> verified"

    @property
    def seconds(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return self.end.at - self.start.at


def recovery_table(recoveries: list[Recovery]) -> Table:
    table = Table(title="time to recovery", title_justify="left")
    table.add_column("incident")
    table.add_column("measured")
    table.add_column("from", justify="right")
    table.add_column("to", justify="right")
    table.add_column("recovery", justify="right")
    for r in recoveries:
        seconds = r.seconds
        table.add_row(
            r.incident,
            r.measure,
            f"{r.start.at:.1f}s" if r.start else "-",
            f"{r.end.at:.1f}s" if r.end else "-",
            f"[bold]{seconds:.1f}s[/bold]" if seconds is not None else "[red]did not happen[/red]",
        )
    return table
