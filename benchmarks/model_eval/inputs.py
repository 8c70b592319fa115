"""Evaluation inputs: held-out voices and portraits the motion model never trained on.

The synthetic corpus holds out every clip whose espeak variant is f4 or m6 or whose language is
Dutch (``training.corpus``), so these voices are unseen; the motion model never sees portraits at
all. Phoneme timings come with each utterance so mouth closures on p/b/m and rounded vs spread
vowels can be checked frame by frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from model.audio.features import extract_features
from model.audio.types import FPS, AudioFeatures
from model.face.portrait import PortraitLimits
from training.espeak import PhonemeEvent, synthesize
from training.procedural.visemes import PRESS, ROUND, WIDTH, visemes_of

ROOT = Path(__file__).resolve().parents[2]
PORTRAITS = {
    "sample": ROOT / "assets/samples/portrait.png",
    "obama": ROOT / "tests/fixtures/faces/obama.jpg",
    "obama2": ROOT / "tests/fixtures/faces/obama2.jpg",
    "biden": ROOT / "tests/fixtures/faces/biden.jpg",
}
# The fixtures are downscaled to 480 px; Biden's eyes are 26 px apart there.
EVAL_PORTRAIT_LIMITS = PortraitLimits(min_interocular=20.0)


@dataclass(frozen=True)
class UtteranceSpec:
    name: str
    text: str
    voice: str
    rate_wpm: int = 165
    pitch: int = 50


UTTERANCES = (  # 10-15 s each: long enough for blink rates and chance correlations to settle
    UtteranceSpec("en_f4", "Maybe the pilot will bring a bowl of soup. We could meet at noon, or "
                  "go home by boat. The museum opens at nine, so please be on time. Bob packed "
                  "a map, a lamp and two blue umbrellas. Who knows what the weather will do?",
                  "en-us+f4", 160, 55),
    UtteranceSpec("en_m6", "People who move to the city often miss the big open sky. Please pass "
                  "me the blue paper. My brother bought a bike last Monday, and he rides it "
                  "every morning. We will see. Perhaps the market is open until midnight.",
                  "en+m6", 170, 40),
    UtteranceSpec("nl_m3", "De boot vaart morgen om negen uur naar het mooie eiland. Wij blijven "
                  "thuis. Mijn moeder maakt soep met bonen en brood. Het regent, maar de zon "
                  "komt straks weer terug. Wie wil er nog een kopje koffie?", "nl+m3", 160, 45),
    UtteranceSpec("de_f4", "Meine Mutter macht am Montag immer Obstkuchen. Bitte bring mir die "
                  "Bohnen mit. Morgen fahren wir mit dem Bus nach Bremen. Das Museum ist "
                  "leider geschlossen. Wo ist mein blauer Mantel?", "de+f4", 150, 60),
    UtteranceSpec("fr_m6", "Bonjour, nous partons demain matin pour Paris. Le beau bateau passe "
                  "sous le pont. Ma mère prépare une bonne soupe aux pommes. Il fait beau, mais "
                  "le vent est froid. Où sont mes lunettes bleues?", "fr+m6", 160, 45),
    UtteranceSpec("es_f4", "Mi madre compra pan y mantequilla por la mañana. Vamos a la playa "
                  "despues. El museo abre a las nueve, pero hoy llueve mucho. Mi hermano bebe "
                  "un café muy amargo. ¿Dónde está mi maleta?", "es+f4", 170, 55),
)


@dataclass(frozen=True)
class Utterance:
    """One spoken evaluation utterance with its phoneme timeline."""

    spec: UtteranceSpec
    samples: np.ndarray
    sample_rate: int
    phonemes: tuple[PhonemeEvent, ...]

    @cached_property
    def features(self) -> AudioFeatures:
        return extract_features(self.samples, self.sample_rate)

    @property
    def frames(self) -> int:
        return len(self.features)

    def frames_where(self, predicate) -> np.ndarray:
        """Frame indices at the middle of each phoneme whose first viseme satisfies predicate."""
        picks = []
        for ph in self.phonemes:
            shapes = visemes_of(ph.symbol)
            if shapes and predicate(shapes[0]):
                picks.append(int((ph.start + ph.end) / 2 * FPS))
        return np.array([f for f in picks if 0 <= f < self.frames], dtype=int)

    def bilabial_frames(self) -> np.ndarray:
        return self.frames_where(lambda v: v.target[PRESS] >= 0.99)

    def rounded_frames(self) -> np.ndarray:
        return self.frames_where(lambda v: v.target[ROUND] >= 0.7 and v.target[PRESS] == 0)

    def spread_frames(self) -> np.ndarray:
        return self.frames_where(lambda v: v.target[WIDTH] >= 0.45 and v.target[ROUND] == 0)


def speak(spec: UtteranceSpec) -> Utterance:
    synth = synthesize(spec.text, spec.voice, spec.rate_wpm, spec.pitch)
    peak = float(np.abs(synth.samples).max()) or 1.0
    samples = (synth.samples * (0.7 / peak)).astype(np.float32)
    return Utterance(spec, samples, synth.sample_rate, tuple(synth.phonemes))
