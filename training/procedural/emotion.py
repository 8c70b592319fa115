"""Emotion signatures of the procedural motion: what each of ``model.controls.EMOTIONS`` does.

Each emotion is a set of offsets and gains that a viewer can see and a metric can measure
against neutral (units are those of ``model.motion.space``):

- happy: lip corners up (~+0.6), wider lips, brows slightly raised, livelier head (bigger,
  faster), chin a little up.
- sad: corners down, chin down (pitch +~5°), gaze lower, drooping lids, slow small motion,
  smaller articulation.
- angry: brows furrowed (-0.6, emphasis furrows further), lips pressed when nearly closed,
  short sharp nods, staring (fewer blinks).
- surprised: brows high (+0.8), jaw resting open, head back a little, far fewer blinks.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from model.controls import EMOTIONS


@dataclass(frozen=True)
class EmotionStyle:
    """lip_corner, lip_width, brow: baseline offsets. brow_gain: brow bump per emphasis
    (negative furrows). head_gain: head-motion amplitude factor. head_tempo: head time-constant
    factor (> 1 is slower). head_pitch: baseline pitch (rad, + chin down). nod_deg: nod
    amplitude (degrees). nod_tau: nod rise time (s; smaller is sharper). blink_per_min: mean
    blink rate. gaze_offset: (x, y) added to the clip's main gaze. gaze_dwell: mean fixation
    time (s). jaw_base: resting jaw opening. jaw_gain: articulation scale. press: lip-press
    tendency while the mouth is nearly closed. lid: resting eyelid droop (blink units)."""

    lip_corner: float = 0.0
    lip_width: float = 0.0
    brow: float = 0.0
    brow_gain: float = 0.3
    head_gain: float = 1.0
    head_tempo: float = 1.0
    head_pitch: float = 0.0
    nod_deg: float = 1.5
    nod_tau: float = 0.15
    blink_per_min: float = 18.0
    gaze_offset: tuple[float, float] = (0.0, 0.0)
    gaze_dwell: float = 1.2
    jaw_base: float = 0.0
    jaw_gain: float = 1.0
    press: float = 0.0
    lid: float = 0.0

    def scaled(self, intensity: float) -> "EmotionStyle":
        """Offsets moved ``intensity`` (0..1) of the way from neutral; rates and gains kept."""
        base = STYLES["neutral"]

        def mix(neutral: float, own: float) -> float:
            return neutral + intensity * (own - neutral)

        return replace(
            self,
            lip_corner=mix(base.lip_corner, self.lip_corner),
            lip_width=mix(base.lip_width, self.lip_width),
            brow=mix(base.brow, self.brow),
            head_pitch=mix(base.head_pitch, self.head_pitch),
            jaw_base=mix(base.jaw_base, self.jaw_base),
            press=mix(base.press, self.press),
            lid=mix(base.lid, self.lid),
            gaze_offset=(mix(base.gaze_offset[0], self.gaze_offset[0]),
                         mix(base.gaze_offset[1], self.gaze_offset[1])),
        )


STYLES: dict[str, EmotionStyle] = {
    "neutral": EmotionStyle(),
    "happy": EmotionStyle(
        lip_corner=0.6, lip_width=0.2, brow=0.15, brow_gain=0.4, head_gain=1.35, head_tempo=0.8,
        head_pitch=-0.02, nod_deg=2.0, nod_tau=0.14, blink_per_min=20.0, gaze_dwell=0.9,
        jaw_base=0.03, jaw_gain=1.05, lid=0.06,
    ),
    "sad": EmotionStyle(
        lip_corner=-0.45, lip_width=-0.1, brow=0.1, brow_gain=0.15, head_gain=0.65,
        head_tempo=1.6, head_pitch=0.09, nod_deg=0.9, nod_tau=0.22, blink_per_min=14.0,
        gaze_offset=(0.0, 0.15), gaze_dwell=1.8, jaw_gain=0.85, press=0.1, lid=0.15,
    ),
    "angry": EmotionStyle(
        lip_corner=-0.2, lip_width=0.1, brow=-0.6, brow_gain=-0.3, head_gain=1.15,
        head_tempo=0.9, head_pitch=0.03, nod_deg=2.6, nod_tau=0.09, blink_per_min=13.0,
        gaze_dwell=1.6, press=0.45,
    ),
    "surprised": EmotionStyle(
        lip_corner=0.05, lip_width=-0.05, brow=0.8, brow_gain=0.2, head_gain=1.1,
        head_tempo=0.9, head_pitch=-0.04, nod_deg=1.4, nod_tau=0.13, blink_per_min=8.0,
        gaze_dwell=1.1, jaw_base=0.15, jaw_gain=1.1,
    ),
}


def style_for(emotion: int) -> EmotionStyle:
    """The style of ``EMOTIONS[emotion]``; ValueError for an index out of range."""
    if not 0 <= emotion < len(EMOTIONS):
        raise ValueError(f"emotion index must be in [0, {len(EMOTIONS)}); got {emotion}")
    return STYLES[EMOTIONS[emotion]]
