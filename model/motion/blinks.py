"""Eyelid dynamics: the generated blink channel triggers blinks; each blink follows a real lid
trajectory.

The diffusion model decides *when* to blink (it learned blinks cluster at pauses), but a small
model sampled in 8 steps renders a blink as a one-frame spike of 0.1-0.5 rather than the
~280 ms close-and-open of a real lid, and a spike that short never closes the eye on screen.
So a blink is triggered when either eye's channel crosses ``threshold`` and then plays a fixed
trajectory (fast close, slower opening, as measured lids do), with a refractory gap. The filter
is causal and keeps its state between calls, so streamed chunks and a whole clip give the same
lids and no look-ahead is added.
"""

from __future__ import annotations

import numpy as np

from model.motion.space import Field

# Lid closure per frame at 25 fps: closes in ~80 ms, stays shut ~80 ms, opens over ~120 ms.
BLINK_TRAJECTORY = np.array([0.6, 1.0, 1.0, 0.7, 0.4, 0.15, 0.04], dtype=np.float32)
_EYES = [int(Field.BLINK_LEFT), int(Field.BLINK_RIGHT)]


class BlinkShaper:
    """Replaces the blink channels of consecutive motion chunks by triggered lid trajectories.

    threshold: channel value (either eye) that starts a blink.
    refractory: frames after a blink ends before another may start (~320 ms).
    """

    def __init__(self, threshold: float = 0.1, refractory: int = 8) -> None:
        self.threshold = threshold
        self.refractory = refractory
        self._phase: int | None = None  # frame index into BLINK_TRAJECTORY while blinking
        self._rest = refractory  # frames since the last blink ended

    def apply(self, motion: np.ndarray) -> np.ndarray:
        """(T, MOTION_DIM) -> a copy with both blink channels replaced."""
        out = motion.astype(np.float32, copy=True)
        trigger = motion[:, _EYES].max(axis=1) if len(motion) else np.zeros(0)
        lids = np.zeros(len(motion), np.float32)
        for t, level in enumerate(trigger):
            if self._phase is None and self._rest >= self.refractory and level >= self.threshold:
                self._phase = 0
            if self._phase is None:
                self._rest += 1
                continue
            lids[t] = BLINK_TRAJECTORY[self._phase]
            self._phase += 1
            if self._phase == len(BLINK_TRAJECTORY):
                self._phase, self._rest = None, 0
        out[:, _EYES] = lids[:, None]
        return out
