"""Pictures and text of an episode, for `ToyCorewarEnv.render()` (README, "Rendering").

- `text_frame`: the program so far, then the registers and the target (render mode `ansi`, printed to
  the terminal by mode `human`).
- `FrameDrawer`: an RGB image of FRAME_SHAPE (height, width, 3), uint8 (render mode `rgb_array`):
  the program on the left, one slot a line; on the right each register's value as a bar over 0..255
  with its target as a black mark, the bar green once the register holds its target.

Drawn with matplotlib's Agg canvas on a figure of its own (no pyplot, no global backend), so that
rendering works without a screen and in any process.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

FRAME_HEIGHT, FRAME_WIDTH, DPI = 240, 480, 80
FRAME_SHAPE = (FRAME_HEIGHT, FRAME_WIDTH, 3)
RIGHT, WRONG = "#2ca02c", "#1f77b4"


def text_frame(program_text: str, registers: Sequence[int], target: Sequence[int]) -> str:
    return f"{program_text}registers {list(registers)} target {list(target)}\n"


class FrameDrawer:
    """Draws frames for one environment; the figure is made at the first frame and reused."""

    def __init__(self, max_length: int) -> None:
        self.max_length = max_length
        self.figure = None

    def _make_figure(self) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(FRAME_WIDTH / DPI, FRAME_HEIGHT / DPI), dpi=DPI)
        FigureCanvasAgg(self.figure)
        self.program_axes = self.figure.add_axes((0.0, 0.0, 0.42, 1.0))
        self.register_axes = self.figure.add_axes((0.52, 0.14, 0.44, 0.72))

    def __call__(self, instructions: Sequence[str], registers: Sequence[int], target: Sequence[int],
                 done: bool) -> np.ndarray:
        if self.figure is None:
            self._make_figure()
        self._draw_program(instructions, done)
        self._draw_registers(registers, target)
        canvas = self.figure.canvas
        canvas.draw()
        return np.asarray(canvas.buffer_rgba())[:, :, :3].copy()

    def _draw_program(self, instructions: Sequence[str], done: bool) -> None:
        axes = self.program_axes
        axes.clear()
        axes.set_axis_off()
        axes.set_xlim(0, 1)
        axes.set_ylim(0, 1)
        axes.text(0.06, 0.93, "program" + (" (done)" if done else ""), fontsize=11, weight="bold", va="top")
        step = 0.8 / max(self.max_length, 1)
        for slot in range(self.max_length):
            text = instructions[slot] if slot < len(instructions) else "·"
            colour = "black" if slot < len(instructions) else "#999999"
            axes.text(0.06, 0.8 - slot * step, f"{slot + 1}  {text}", fontsize=10, family="monospace",
                      va="top", color=colour)

    def _draw_registers(self, registers: Sequence[int], target: Sequence[int]) -> None:
        axes = self.register_axes
        axes.clear()
        rows = np.arange(len(registers))
        colours = [RIGHT if value == goal else WRONG for value, goal in zip(registers, target, strict=True)]
        axes.barh(rows, list(registers), color=colours, height=0.6)
        axes.scatter(list(target), rows, marker="|", s=400, linewidths=3, color="black", zorder=3)
        pairs = zip(registers, target, strict=True)
        labels = [f"r{i + 1} {value:>3}→{goal:<3}" for i, (value, goal) in enumerate(pairs)]
        axes.set_yticks(rows, labels, family="monospace")
        axes.set_ylim(len(registers) - 0.5, -0.5)
        axes.set_xlim(0, 255)
        axes.set_xticks([0, 64, 128, 192, 255])
        axes.tick_params(labelsize=8)
        axes.set_title("registers (bars) and target (|)", fontsize=9)

    def close(self) -> None:
        self.figure = None
