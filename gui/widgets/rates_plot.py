"""RatesPlot: the false-accept and false-reject rates of every tau, with the tau in force marked."""
from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure


class RatesPlot(FigureCanvasQTAgg):
    def __init__(self, calibration, parent=None):
        figure = Figure(figsize=(4.5, 2.4), dpi=90, layout="constrained")
        super().__init__(figure)
        self.setParent(parent)
        self.setMinimumHeight(200)
        self.axes = figure.add_subplot()
        tau, far, frr = calibration.curves()
        floor = 0.5 / calibration.impostor.sum()  # below one pair in the set: not measurable
        self.axes.semilogy(tau, np.maximum(far, floor), label="strangers accepted (FAR)")
        self.axes.semilogy(tau, np.maximum(frr, 0.5 / calibration.genuine.sum()), label="same person rejected (FRR)")
        shown = (far > floor) & (far < 0.99)  # from the first stranger accepted to nearly all of them
        self.shown = (tau[shown].min() - 0.05, tau[shown].max() + 0.05)
        self.axes.set(xlim=self.shown, ylim=(floor, 1.0),
                      xlabel="τ (embedding distance)", ylabel="rate")
        self.axes.grid(True, which="both", alpha=0.3)
        self.axes.legend(fontsize=8, loc="lower right")
        self.marker = self.axes.axvline(0.0, color="k", ls="--", lw=1)

    def set_tau(self, tau: float, warn: bool = False) -> None:
        """Mark tau (in orange when it lets strangers in), widening the view to keep the mark on the chart."""
        self.marker.set_xdata([tau, tau])
        self.marker.set_color("#e67e22" if warn else "k")
        low, high = self.shown
        self.axes.set_xlim(min(low, tau - 0.02), max(high, tau + 0.02))
        self.draw_idle()
