"""Pictures and text of an episode, for `ToyCorewarEnv.render()` (docs/environment.md, "Rendering").

- `text_frame`: the program so far, then the registers and the target (render mode `ansi`, printed to
  the terminal by mode `human`); `examples_frame`: the same for a function task, a line per example.
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
RIGHT, WRONG, IGNORED = "#2ca02c", "#1f77b4", "#bbbbbb"  # IGNORED: a register that does not matter


def text_frame(program_text: str, registers: Sequence[int], target: Sequence[int]) -> str:
    return f"{program_text}registers {list(registers)} target {list(target)}\n"


def examples_frame(program_text: str, inputs: np.ndarray, registers: Sequence[Sequence[int]], target: np.ndarray,
                   matters: np.ndarray) -> str:
    """A function task's text: the program so far, then one line per example, `_` in the target where
    a register does not matter."""
    lines = [f"example {e + 1}: input {list(map(int, inputs[e]))} registers {list(registers[e])} target ["
             + ", ".join(str(int(t)) if m else "_" for t, m in zip(target[e], matters[e], strict=True)) + "]"
             for e in range(len(registers))]
    return program_text + "".join(line + "\n" for line in lines)


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
                 done: bool, matters: Sequence[bool] | None = None, title: str | None = None) -> np.ndarray:
        """A frame; `matters` (a function task's example) greys the registers that do not matter."""
        if self.figure is None:
            self._make_figure()
        self._draw_program(instructions, done)
        self._draw_registers(registers, target, [True] * len(registers) if matters is None else list(matters))
        if title is not None:
            self.register_axes.set_title(title, fontsize=9)
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

    def _draw_registers(self, registers: Sequence[int], target: Sequence[int], matters: list[bool]) -> None:
        axes = self.register_axes
        axes.clear()
        rows = np.arange(len(registers))
        colours = [(RIGHT if value == goal else WRONG) if counts else IGNORED
                   for value, goal, counts in zip(registers, target, matters, strict=True)]
        axes.barh(rows, list(registers), color=colours, height=0.6)
        marked = np.flatnonzero(matters)
        axes.scatter(np.asarray(target)[marked], rows[marked], marker="|", s=400, linewidths=3, color="black",
                     zorder=3)
        labels = [f"r{i + 1} {value:>3}→{goal if counts else '_':<3}"
                  for i, (value, goal, counts) in enumerate(zip(registers, target, matters, strict=True))]
        axes.set_yticks(rows, labels, family="monospace")
        axes.set_ylim(len(registers) - 0.5, -0.5)
        axes.set_xlim(0, 255)
        axes.set_xticks([0, 64, 128, 192, 255])
        axes.tick_params(labelsize=8)
        axes.set_title("registers (bars) and target (|)", fontsize=9)

    def close(self) -> None:
        self.figure = None
