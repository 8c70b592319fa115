"""Text for the synthetic corpus, made without downloads and deterministic given an rng.

English: hand-written sentences plus a small template grammar (thousands of combinations).
Other espeak languages: a few hand-written sentences each, plus pseudo-words built from
each language's own spelling of common syllables, so espeak's letter-to-sound rules give the
language's phonemes and rhythm. Commas, full stops and question marks make pauses.
"""

from __future__ import annotations

import numpy as np

ENGLISH = (
    "Good morning, everyone.",
    "Please bring the blue book back by Monday.",
    "I think we should wait a little longer.",
    "Would you like a cup of tea?",
    "The museum opens at nine in the morning.",
    "My brother moved to Boston last summer.",
    "We went hiking in the mountains and it rained all day.",
    "Could you open the window, please?",
    "That was the best movie I have seen in years.",
    "Put the boxes by the back door.",
    "Maybe we can meet at the market tomorrow.",
    "The weather report promised sunshine, but look at it now.",
    "Nobody knew where the old map had gone.",
    "She plays the violin beautifully.",
    "Turn left at the bridge and keep going.",
    "Honestly, I had no idea it would be so cold.",
    "Remember to feed the fish before you leave.",
    "Our flight was delayed by two hours.",
    "The children built a huge snowman in the park.",
    "Why do you always forget your umbrella?",
    "I am really proud of what you did.",
    "Five brave pilots flew over the valley.",
    "The coffee machine is broken again.",
    "Let me show you how this works.",
    "Who wants the last piece of pie?",
    "We should move the meeting to Thursday afternoon.",
    "The music was far too loud for me.",
    "Excuse me, is this seat taken?",
    "Bob bought a bag of purple plums.",
    "Wow, you really outdid yourself this time!",
    "Thank you so much for coming today.",
    "I would love to visit Rome one day.",
    "The new bakery makes wonderful bread.",
    "Please be quiet, the baby is sleeping.",
    "Where did you put my phone?",
    "It took me a while to find the right words.",
    "The moon was bright over the water.",
    "Few people remember how it all began.",
    "We need more paper for the printer.",
    "Happy birthday, I hope you have a wonderful day!",
    "You look tired, maybe you should rest.",
    "The bus comes every fifteen minutes.",
    "My favourite food is pumpkin soup.",
    "Everybody was waiting for the news.",
    "This road leads to the old harbour.",
    "I promise I will call you back.",
    "Do you know what time it is?",
    "The room smelled of fresh flowers.",
    "We watched the boats from the beach.",
    "Quick, grab your coat, we are late!",
    "The painting hung above the fireplace.",
    "I do not understand why this happened.",
    "Two blue whales swam beside the boat.",
    "He whispered something I could not hear.",
    "Move the chairs into the big room.",
    "What a beautiful view from up here!",
    "My grandmother baked apple pie every Sunday.",
    "Would you mind turning the music down?",
    "The bridge was built more than a hundred years ago.",
    "You will find the keys in the blue bowl.",
    "I hope the weather stays warm for the weekend.",
    "Our team won the match by one point.",
    "Is anybody home?",
    "The soup is too hot to eat.",
    "We ran out of milk this morning.",
    "Please remember to lock the door.",
    "The owl hooted softly in the woods.",
    "People were cheering as the runners passed.",
    "Could we maybe talk about this later?",
    "I bumped into an old friend at the station.",
    "The blueberry muffins are ready.",
    "Who left the tap running?",
    "Nothing beats a walk by the sea.",
    "My mum used to sing to me.",
    "The mouse ran under the table.",
    "I wonder what the future will bring.",
    "Put your boots by the fire to dry.",
    "The phone rang twice and then stopped.",
    "It was a very long and boring meeting.",
    "We moved into a bigger flat in May.",
    "Oh no, I missed the bus again!",
    "The zoo has two new baby pandas.",
    "Whatever happens, we stick together.",
    "Beautiful music filled the room.",
    "The shop on the corner sells fresh fruit.",
    "Please pass me the pepper.",
    "You were absolutely right about that.",
    "Why would anyone do such a thing?",
    "The moving van arrives at ten.",
    "My puppy loves chasing bubbles.",
    "Your voice sounds different on the phone.",
    "I will be back in five minutes.",
    "We lost our way in the fog.",
    "Maybe it is time for a break.",
    "The river flows through the middle of the town.",
    "Every morning he jogs around the pond.",
    "A warm breeze blew from the south.",
    "The food at that place was amazing.",
    "Stop, you are going the wrong way!",
    "I feel much better now, thank you.",
    "The clock on the wall is five minutes fast.",
    "Somebody parked right in front of my garage.",
    "Would you rather have pizza or pasta?",
    "Mind the gap between the train and the platform.",
    "The rooftop garden is full of bees.",
    "I have never seen so many stars.",
    "You can borrow my bike if you want.",
    "The whole family came for the wedding.",
    "Please put your phones away now.",
    "The wolf howled at the full moon.",
    "Let us begin with a simple example.",
    "Who made these wonderful cookies?",
    "My boss wants the report by noon.",
    "Our neighbours have a very noisy dog.",
    "The lamp by the bed is broken.",
    "I am so sorry for your loss.",
    "Why is the sky blue?",
    "Bubbles floated up from the bottom of the pool.",
    "Good night, sleep well.",
)

_SUBJECTS = ("my brother", "the teacher", "our neighbour", "a young woman", "the old man",
             "my best friend", "the pilot", "everybody", "the baker", "your mother", "we",
             "they", "the boss", "a tiny mouse", "the musicians", "Paul", "Maria", "the doctor")
_VERBS = ("opened", "painted", "bought", "found", "moved", "borrowed", "watched", "fixed",
          "loved", "remembered", "washed", "forgot", "described", "pushed", "brought", "played")
_OBJECTS = ("the blue box", "a wooden boat", "the big map", "some warm bread", "a broken phone",
            "the museum", "an umbrella", "the purple flowers", "a few old photos",
            "the piano", "my bike", "the window", "a bowl of soup", "the whole room")
_ENDINGS = ("yesterday", "this morning", "before lunch", "in the park", "by the river",
            "after the meeting", "on Monday", "with a big smile", "very slowly",
            "without a word", "in the rain", "at midnight", "for the first time", "again")


def _english_template(rng: np.random.Generator) -> str:
    parts = [str(rng.choice(p)) for p in (_SUBJECTS, _VERBS, _OBJECTS, _ENDINGS)]
    style = rng.integers(0, 4)
    if style == 0:  # question
        return f"Is it true that {parts[0]} {parts[1]} {parts[2]} {parts[3]}?"
    if style == 1:  # clause with a pause
        return _upper_first(f"{parts[3]}, {parts[0]} {parts[1]} {parts[2]}.")
    return _upper_first(f"{parts[0]} {parts[1]} {parts[2]} {parts[3]}.")


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


# Hand-written sentences per language (short, everyday).
_SENTENCES: dict[str, tuple[str, ...]] = {
    "de": ("Guten Morgen, wie geht es dir?", "Das Wetter ist heute wunderschön.",
           "Wir fahren morgen mit dem Zug nach Berlin.", "Kannst du mir bitte helfen?",
           "Meine Mutter backt den besten Kuchen.", "Der Hund spielt im Garten."),
    "fr": ("Bonjour, comment allez-vous?", "Il fait très beau aujourd'hui.",
           "Nous partons demain matin pour Paris.", "Pouvez-vous m'aider, s'il vous plaît?",
           "Ma mère prépare un bon repas.", "Le chat dort sur le canapé."),
    "es": ("Buenos días, ¿cómo estás?", "Hoy hace un tiempo maravilloso.",
           "Mañana vamos a Madrid en tren.", "¿Puedes ayudarme, por favor?",
           "Mi madre cocina muy bien.", "El perro juega en el jardín."),
    "it": ("Buongiorno, come stai?", "Oggi il tempo è bellissimo.",
           "Domani andiamo a Roma in treno.", "Mi puoi aiutare, per favore?",
           "Mia madre cucina benissimo.", "Il gatto dorme sul divano."),
    "pt": ("Bom dia, como você está?", "Hoje o tempo está maravilhoso.",
           "Amanhã vamos a Lisboa de comboio.", "Você pode me ajudar, por favor?",
           "A minha mãe cozinha muito bem.", "O cão brinca no jardim."),
    "nl": ("Goedemorgen, hoe gaat het met je?", "Het weer is vandaag prachtig.",
           "Morgen gaan we met de trein naar Amsterdam.", "Kun je me alsjeblieft helpen?",
           "Mijn moeder bakt de lekkerste taart.", "De hond speelt in de tuin."),
    "pl": ("Dzień dobry, jak się masz?", "Dzisiaj jest piękna pogoda.",
           "Jutro jedziemy pociągiem do Krakowa.", "Czy możesz mi pomóc?",
           "Moja mama świetnie gotuje.", "Pies bawi się w ogrodzie."),
    "sv": ("God morgon, hur mår du?", "Vädret är underbart i dag.",
           "I morgon åker vi tåg till Stockholm.", "Kan du hjälpa mig, tack?",
           "Min mamma bakar goda bullar.", "Hunden leker i trädgården."),
    "tr": ("Günaydın, nasılsın?", "Bugün hava çok güzel.",
           "Yarın trenle İstanbul'a gidiyoruz.", "Bana yardım eder misin?",
           "Annem çok güzel yemek yapar.", "Köpek bahçede oynuyor."),
}

# Spelling of common syllable parts: (onsets, nuclei, codas). Empty strings allow V and CV.
_SYLLABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "de": (("b", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "w", "z", "sch",
            "st", "sp", "br", "gr", "kl", "pf", "fr", "tr", ""),
           ("a", "e", "i", "o", "u", "ä", "ö", "ü", "ei", "au", "ie", "eu"),
           ("", "", "n", "r", "s", "t", "ch", "ng", "l", "m", "nd", "cht")),
    "fr": (("b", "d", "f", "j", "l", "m", "n", "p", "r", "s", "t", "v", "ch", "gr", "pl", "tr", ""),
           ("a", "é", "è", "i", "o", "ou", "u", "eu", "on", "an", "in", "oi", "ai"),
           ("", "", "", "r", "l", "s")),
    "es": (("b", "c", "d", "f", "g", "j", "l", "m", "n", "p", "r", "s", "t", "v", "ll", "ch",
            "br", "tr", "pl", ""),
           ("a", "e", "i", "o", "u", "ue", "ie"), ("", "", "", "n", "s", "r", "l")),
    "it": (("b", "d", "f", "g", "l", "m", "n", "p", "r", "s", "t", "v", "c", "ch", "gl", "sc",
            "tr", "pr", "ll", "tt"),
           ("a", "e", "i", "o", "u", "ia", "uo"), ("", "", "", "", "n", "r", "l")),
    "pt": (("b", "d", "f", "g", "j", "l", "m", "n", "p", "r", "s", "t", "v", "ch", "lh", "nh"),
           ("a", "e", "i", "o", "u", "ão", "ei", "ou", "ã"), ("", "", "s", "r", "m", "l")),
    "nl": (("b", "d", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z", "sch",
            "kr", "st"),
           ("a", "aa", "e", "ee", "i", "o", "oo", "oe", "u", "uu", "ij", "ui", "ou", "eu"),
           ("", "n", "k", "t", "s", "l", "r", "cht", "nd")),
    "pl": (("b", "d", "g", "k", "l", "m", "n", "p", "r", "s", "t", "w", "z", "sz", "cz", "rz",
            "ch", "ż", "ś", "dz", "prz", "st"),
           ("a", "e", "i", "o", "u", "y", "ą", "ę", "ó"), ("", "", "k", "ć", "ł", "n", "m", "sz")),
    "sv": (("b", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "sj", "tj",
            "st", "kr", "fl"),
           ("a", "e", "i", "o", "u", "y", "å", "ä", "ö"), ("", "n", "r", "t", "k", "ll", "ng", "st")),
    "tr": (("b", "c", "ç", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "ş", "t", "v",
            "y", "z"),
           ("a", "e", "ı", "i", "o", "ö", "u", "ü"), ("", "", "n", "r", "l", "k", "m", "t", "ş")),
    "fi": (("h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", ""),
           ("a", "e", "i", "o", "u", "y", "ä", "ö", "aa", "ee", "ii", "uu", "ie", "uo"),
           ("", "", "n", "t", "s", "l")),
    "cs": (("b", "d", "h", "ch", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "š", "č",
            "ř", "ž", "pr", "st"),
           ("a", "e", "i", "o", "u", "y", "á", "é", "í", "ů", "ě"), ("", "", "k", "t", "n", "l", "m", "š")),
    "ro": (("b", "c", "d", "f", "g", "j", "l", "m", "n", "p", "r", "s", "t", "v", "ș", "ț", "z"),
           ("a", "e", "i", "o", "u", "ă", "â", "ea", "oa"), ("", "", "n", "r", "l", "t", "m")),
    "hu": (("b", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "sz", "t", "v", "z",
            "cs", "gy", "ny"),
           ("a", "á", "e", "é", "i", "í", "o", "ó", "ö", "ő", "u", "ú", "ü", "ű"),
           ("", "k", "t", "n", "l", "r", "s", "sz")),
    "id": (("b", "d", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "w", "ny", "ng"),
           ("a", "e", "i", "o", "u"), ("", "", "n", "ng", "k", "r", "h", "t")),
}

ENGLISH_CODES = ("en-us", "en")
LANGUAGES: tuple[str, ...] = ENGLISH_CODES + tuple(_SYLLABLES)


def pseudo_word(language: str, rng: np.random.Generator) -> str:
    """One pseudo-word of 1-3 syllables spelled the way ``language`` spells them."""
    onsets, nuclei, codas = _SYLLABLES[language]
    n_syllables = int(rng.choice([1, 2, 2, 3, 3]))
    parts = []
    for i in range(n_syllables):
        coda = str(rng.choice(codas)) if i == n_syllables - 1 or rng.random() < 0.3 else ""
        parts.append(str(rng.choice(onsets)) + str(rng.choice(nuclei)) + coda)
    return "".join(parts)


def _pseudo_sentence(language: str, rng: np.random.Generator) -> str:
    n = int(rng.integers(3, 9))
    words = [pseudo_word(language, rng) for _ in range(n)]
    if n > 4 and rng.random() < 0.5:  # a comma: a short pause mid-sentence
        words[int(rng.integers(2, n - 1))] += ","
    end = str(rng.choice([".", ".", ".", "?", "!"]))
    return " ".join(words).capitalize() + end


def sentence(language: str, rng: np.random.Generator) -> str:
    """One sentence in ``language`` (an entry of ``LANGUAGES``)."""
    if language in ENGLISH_CODES:
        if rng.random() < 0.6:
            return str(rng.choice(ENGLISH))
        return _english_template(rng)
    if language not in _SYLLABLES:
        raise ValueError(f"no text source for language {language!r}; have {', '.join(LANGUAGES)}")
    real = _SENTENCES.get(language, ())
    if real and rng.random() < 0.4:
        return str(rng.choice(real))
    return _pseudo_sentence(language, rng)


def make_text(language: str, n_words: int, rng: np.random.Generator) -> str:
    """Whole sentences in ``language`` adding up to about ``n_words`` words (at least one)."""
    sentences: list[str] = []
    count = 0
    while count < max(1, n_words):
        s = sentence(language, rng)
        if sentences and count + len(s.split()) > n_words * 1.3:
            break  # a long last sentence would overshoot; stop just short instead
        sentences.append(s)
        count += len(s.split())
    return " ".join(sentences)
