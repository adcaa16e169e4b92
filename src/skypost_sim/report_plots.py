"""The scenario report's PNG plots, drawn with matplotlib's object API on the Agg canvas (no display, no pyplot
state). The figures' data comes from report.py."""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .report import DeliveryRecord, DroneSample, Headline, StatusEvent, phase_series

PLOTS = ("deliveries_over_time.png", "delivery_time_hist.png", "battery.png", "utilisation.png")


def _figure(width: float = 9.0, height: float = 4.5) -> Figure:
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _cumulative(times: Iterable[float], origin: float) -> tuple[list[float], list[int]]:
    xs = sorted(t - origin for t in times if not math.isnan(t))
    return [0.0, *xs], [0, *range(1, len(xs) + 1)]


def plot_deliveries(records: Mapping[str, DeliveryRecord], events: Sequence[StatusEvent], origin: float,
                    path: Path) -> None:
    figure = _figure(9.0, 6.0)
    top, bottom = figure.subplots(2, 1, sharex=True)
    values = list(records.values())
    for label, times in (("submitted", [r.submitted for r in values]),
                         ("in a cell", [r.delivered for r in values]),
                         ("completed", [r.final_at for r in values if r.final_state == "COMPLETED"]),
                         ("failed", [r.final_at for r in values if r.final_state == "FAILED"]),
                         ("cancelled", [r.final_at for r in values if r.final_state == "CANCELLED"])):
        xs, ys = _cumulative(times, origin)
        if len(xs) > 1:
            top.step(xs, ys, where="post", label=label)
    top.set_ylabel("deliveries (cumulative)")
    if top.lines:
        top.legend(loc="upper left")
    top.grid(alpha=0.3)
    times, series = phase_series(events)
    shifted = [t - origin for t in times]
    for phase in ("queued", "active", "awaiting_pickup"):
        if shifted:
            bottom.step(shifted, series[phase], where="post", label=phase.replace("_", " "))
    bottom.set_xlabel("sim time since the scenario start (s)")
    bottom.set_ylabel("deliveries now")
    if shifted:
        bottom.legend(loc="upper left")
    bottom.grid(alpha=0.3)
    figure.suptitle("Deliveries over time")
    figure.savefig(path)


def plot_delivery_times(records: Mapping[str, DeliveryRecord], head: Headline, path: Path) -> None:
    figure = _figure()
    axes = figure.subplots()
    durations = [r.delivered - r.submitted for r in records.values() if not math.isnan(r.delivered - r.submitted)]
    if durations:
        axes.hist(durations, bins=min(30, max(5, len(durations) // 3)), color="tab:blue", alpha=0.8)
        for value, label, style in ((head.delivery_time_p50, "p50", "--"), (head.delivery_time_p95, "p95", ":")):
            if not math.isnan(value):
                axes.axvline(value, color="black", linestyle=style, label=f"{label} {value:.0f} s")
        axes.legend()
    else:
        axes.text(0.5, 0.5, "no delivery reached a locker", ha="center", va="center", transform=axes.transAxes)
    axes.set_xlabel("delivery time: submit → parcel in the cell (sim s)")
    axes.set_ylabel("deliveries")
    axes.set_title("Delivery time")
    axes.grid(alpha=0.3)
    figure.savefig(path)


def plot_battery(samples: Sequence[DroneSample], drones: Sequence[str], origin: float, path: Path) -> None:
    figure = _figure(9.0, 5.0)
    axes = figure.subplots()
    for drone in drones:
        own = sorted((s for s in samples if s.drone_id == drone), key=lambda s: s.stamp)
        if own:
            axes.plot([s.stamp - origin for s in own], [s.battery * 100.0 for s in own], label=drone, linewidth=1.0)
    axes.set_xlabel("sim time since the scenario start (s)")
    axes.set_ylabel("battery (%)")
    axes.set_ylim(0, 105)
    axes.set_title("Battery per drone (gaps: unknown)")
    axes.grid(alpha=0.3)
    if axes.lines:
        axes.legend(loc="lower left", ncol=max(1, math.ceil(len(drones) / 6)), fontsize="small")
    figure.savefig(path)


def plot_utilisation(head: Headline, drones: Sequence[str], path: Path) -> None:
    figure = _figure(max(6.0, 0.6 * len(drones) + 2.0), 4.5)
    axes = figure.subplots()
    shares = [head.utilisation.get(d, 0.0) * 100.0 for d in drones]
    axes.bar(list(drones), shares, color="tab:green")
    if not math.isnan(head.mean_utilisation):
        axes.axhline(head.mean_utilisation * 100.0, color="black", linestyle="--",
                     label=f"mean {head.mean_utilisation:.0%}")
        axes.legend()
    axes.set_ylim(0, 100)
    axes.set_ylabel("busy share of the work window (%)")
    axes.set_title("Drone utilisation")
    axes.tick_params(axis="x", labelrotation=45)
    figure.savefig(path)


def write_plots(out: Path, records: Mapping[str, DeliveryRecord], events: Sequence[StatusEvent],
                samples: Sequence[DroneSample], drones: Sequence[str], head: Headline, origin: float) -> list[str]:
    """Every plot into `out`; returns their file names (as report.md links them)."""
    out.mkdir(parents=True, exist_ok=True)
    plot_deliveries(records, events, origin, out / PLOTS[0])
    plot_delivery_times(records, head, out / PLOTS[1])
    plot_battery(samples, drones, origin, out / PLOTS[2])
    plot_utilisation(head, drones, out / PLOTS[3])
    return list(PLOTS)
