"""Streaming audio features: the same numbers as ``features.extract_features``, from chunks.

A frame is emitted once the audio up to its end, plus one frame of voice-activity look-ahead,
is in (the mel windows stay inside their frame): 40 ms at 16 kHz, plus the
resampler's filter delay (< 1.3 ms) at other rates. Other rates go through a polyphase FIR with
carried state that uses the offline path's filter and output alignment, so streamed features
match ``extract_features`` to float32 rounding at any rate.

Only per-chunk checks apply (shape, dtype, NaN, rate, the running too-long limit): silence and
clipping are whole-audio judgements, left to whoever holds the whole audio.
"""

from __future__ import annotations

import math

import numpy as np

from model.audio.features import (
    FRAME, HANGOVER_FRAMES, LOOKAHEAD_FRAMES, PAD, AudioLimits, FrameMeasures, as_float_channels,
    check_rate, concat_measures, frame_measures, resample_filter, resample_ratio, voice_decisions,
)
from model.audio.types import N_MELS, SAMPLE_RATE, STEPS_PER_FRAME, AudioFeatures
from model.errors import AudioTooLong

_MAX_BLOCK = 4096  # outputs per vectorised resampler step (bounds the gather matrix)


def empty_features() -> AudioFeatures:
    return AudioFeatures(np.zeros((0, STEPS_PER_FRAME, N_MELS), np.float32),
                         np.zeros(0, np.float32), np.zeros(0, bool))


class StreamResampler:
    """Rational-ratio polyphase resampler to 16 kHz with carried state.

    Output m is ``sum_n x[n] h[m * down - n * up + half]`` (scipy's resample_poly alignment),
    emitted once input ``(m * down + half) // up`` has arrived; ``finish`` zero-pads the tail
    to ``ceil(n_in * up / down)`` outputs, as the offline path does.
    """

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.up, self.down = resample_ratio(sample_rate)
        h = resample_filter(self.up, self.down)
        self.half = (h.shape[0] - 1) // 2
        self.taps = math.ceil(h.shape[0] / self.up)
        padded = np.zeros(self.up * self.taps)
        padded[: h.shape[0]] = h
        self._poly = padded.reshape(self.taps, self.up).T.copy()  # (up, taps): h[r + j * up]
        self._buf = np.zeros(self.taps - 1)  # inputs from index self._base (zeros before 0)
        self._base = -(self.taps - 1)
        self._n_in = 0
        self._m = 0

    @property
    def delay_seconds(self) -> float:
        """Input that must arrive after an output's instant before that output is ready."""
        return (self.half / self.up + 1) / self.sample_rate

    def push(self, x: np.ndarray) -> np.ndarray:
        """(n,) float at the input rate -> (k,) float32 newly ready 16 kHz samples."""
        self._buf = np.concatenate([self._buf, x.astype(np.float64)])
        self._n_in += x.shape[0]
        ready = (self._n_in * self.up - 1 - self.half) // self.down + 1
        return self._emit(max(ready, self._m))

    def finish(self) -> np.ndarray:
        n_out = -(-self._n_in * self.up // self.down)
        if n_out <= self._m:
            return np.zeros(0, np.float32)
        last_needed = ((n_out - 1) * self.down + self.half) // self.up
        missing = last_needed + 1 - (self._base + self._buf.shape[0])
        self._buf = np.concatenate([self._buf, np.zeros(max(missing, 0))])
        return self._emit(n_out)

    def _emit(self, m_end: int) -> np.ndarray:
        parts = []
        for start in range(self._m, m_end, _MAX_BLOCK):
            m = np.arange(start, min(start + _MAX_BLOCK, m_end), dtype=np.int64)
            a = m * self.down + self.half
            rows = (a // self.up - self._base)[:, None] - np.arange(self.taps)[None, :]
            parts.append(np.einsum("ij,ij->i", self._buf[rows], self._poly[a % self.up]))
        self._m = m_end
        keep_from = (self._m * self.down + self.half) // self.up - (self.taps - 1)
        if keep_from > self._base:
            self._buf = self._buf[keep_from - self._base :]
            self._base = keep_from
        return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)


class StreamingFeatureExtractor:
    """Push chunks of any size; get the frames that became final. ``finish`` flushes the tail.

    ``push(chunk)``: chunk (n,) or (n, c) float in [-1, 1] or int16/int32 PCM at the rate given
    to the constructor -> AudioFeatures with zero or more new frames, in order.
    """

    def __init__(self, sample_rate: int, limits: AudioLimits = AudioLimits()) -> None:
        self.sample_rate = check_rate(sample_rate)
        self.limits = limits
        self._resampler = (
            None if self.sample_rate == SAMPLE_RATE else StreamResampler(self.sample_rate)
        )
        self._padded = np.zeros(PAD, np.float32)  # 16 kHz samples from padded index _origin
        self._origin = 0  # padded index = 16 kHz sample index + PAD
        self._n_in = 0
        self._n16 = 0
        self._measured = 0  # frames measured so far
        self._pending: list[FrameMeasures] = []  # measured, voice not yet decided
        self._history = np.zeros(HANGOVER_FRAMES, bool)  # periodic flags before the pending ones
        self._finished = False

    @property
    def lookahead_seconds(self) -> float:
        own = (LOOKAHEAD_FRAMES * FRAME + PAD) / SAMPLE_RATE
        return own + (self._resampler.delay_seconds if self._resampler else 0.0)

    def push(self, chunk: np.ndarray) -> AudioFeatures:
        if self._finished:
            raise RuntimeError("push() after finish()")
        if isinstance(chunk, np.ndarray) and chunk.ndim in (1, 2) and chunk.shape[0] == 0:
            return empty_features()
        x = as_float_channels(chunk)
        self._n_in += x.shape[0]
        seconds = self._n_in / self.sample_rate
        if seconds > self.limits.max_seconds:
            raise AudioTooLong(
                f"audio stream passed {self.limits.max_seconds:g} s",
                seconds=seconds, max_seconds=self.limits.max_seconds,
            )
        mono = x[:, 0] if x.shape[1] == 1 else x.mean(axis=1, dtype=np.float32)
        self._append(self._resampler.push(mono) if self._resampler else mono)
        available = (self._origin + self._padded.shape[0] - 2 * PAD) // FRAME
        return self._advance(available, final=False)

    def finish(self) -> AudioFeatures:
        """Flush: zero-pad the tail to whole frames and decide the last frames."""
        if self._finished:
            raise RuntimeError("finish() called twice")
        self._finished = True
        if self._resampler:
            self._append(self._resampler.finish())
        total = -(-self._n16 // FRAME)
        missing = total * FRAME + 2 * PAD - (self._origin + self._padded.shape[0])
        self._append(np.zeros(max(missing, 0), np.float32), count=False)
        return self._advance(total, final=True)

    def _append(self, x16: np.ndarray, count: bool = True) -> None:
        self._padded = np.concatenate([self._padded, x16.astype(np.float32, copy=False)])
        if count:
            self._n16 += x16.shape[0]

    def _advance(self, available: int, final: bool) -> AudioFeatures:
        if available > self._measured:
            start = self._measured * FRAME - self._origin
            self._pending.append(frame_measures(self._padded[start:], available - self._measured))
            self._measured = available
            keep = self._measured * FRAME - self._origin  # the next frame starts here
            self._padded = self._padded[keep:]
            self._origin += keep
        return self._decide(final)

    def _decide(self, final: bool) -> AudioFeatures:
        if not self._pending:
            return empty_features()
        m = concat_measures(self._pending)
        mel, energy, loud, periodic = m.mel, m.energy, m.loud, m.periodic
        n = len(energy) if final else len(energy) - LOOKAHEAD_FRAMES
        if n <= 0:
            return empty_features()
        tail = np.zeros(LOOKAHEAD_FRAMES, bool) if final else np.zeros(0, bool)
        ext = np.concatenate([self._history, periodic, tail])
        voiced = voice_decisions(loud[:n], ext[: HANGOVER_FRAMES + n + LOOKAHEAD_FRAMES])
        self._history = ext[n : n + HANGOVER_FRAMES]
        self._pending = [] if n == len(energy) else [
            FrameMeasures(mel[n:], energy[n:], periodic[n:], loud[n:])
        ]
        return AudioFeatures(mel[:n], energy[:n], voiced)
