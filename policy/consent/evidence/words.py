"""The fixed list the challenge phrase is drawn from: simple, distinct English words.

Every word is a concrete noun (or a plain adjective) a non-native speaker reads without effort,
has exactly one pronunciation in pocketsphinx's US English dictionary, and differs from every
other word by at least three phones (an edit distance over ARPAbet), so a misread word aligns
badly instead of passing as its neighbour. A 4-word phrase is one of 108·107·106·105
≈ 1.3·10⁸ ordered draws; ``tests/policy/consent/evidence/test_words.py`` keeps the properties.
Changing the list changes ``CHECKS_VERSION``.
"""

from __future__ import annotations

WORD_LIST: tuple[str, ...] = (
    "anchor", "apple", "bamboo", "banjo", "basket", "bicycle", "bishop", "blossom", "bridge",
    "button", "cactus", "candle", "carpet", "cherry", "chimney", "circus", "cloud", "compass",
    "copper", "crystal", "dolphin", "dragon", "falcon", "feather", "finger", "flute", "fossil",
    "frozen", "garden", "glacier", "goblin", "goose", "gravel", "guitar", "hammer", "harbor",
    "helmet", "hockey", "horse", "island", "jungle", "kayak", "kettle", "koala", "lantern",
    "lemon", "lizard", "lobster", "magnet", "mango", "marble", "meadow", "monkey", "napkin",
    "needle", "nest", "ocean", "orbit", "ostrich", "oyster", "parrot", "pencil", "penguin",
    "pillow", "pizza", "planet", "plastic", "pony", "potato", "puzzle", "queen", "rainbow",
    "ribbon", "river", "rocket", "rope", "ruby", "sailor", "scarf", "snow", "sofa", "spider",
    "spinach", "spoon", "squirrel", "stadium", "statue", "sunset", "sweater", "table", "teapot",
    "thunder", "tiger", "tornado", "tractor", "train", "trumpet", "tulip", "umbrella", "valley",
    "vanilla", "violin", "volcano", "walnut", "window", "wolf", "yogurt", "zebra",
)
MIN_PHONE_DISTANCE = 3
