"""Which language a member texts in, so their automatic texts (opt-out confirmation, HELP, welcome,
after-hours) can answer in it. Deterministic and cheap, like ``consent_classifier``: a text counts as
Spanish when it carries Spanish-only punctuation or letters (¿ ¡ ñ) or at least two common Spanish words
and more of them than common English words. Anything unclear answers None and changes nothing."""

from conversations.consent_classifier import normalize

# Common in church texts and unambiguous: none is also an everyday English word.
SPANISH_WORDS = frozenset(
    [
        "hola",
        "gracias",
        "por",
        "favor",
        "buenos",
        "buenas",
        "dias",
        "tardes",
        "noches",
        "quiero",
        "necesito",
        "ayuda",
        "iglesia",
        "mensajes",
        "mensaje",
        "textos",
        "baja",
        "parar",
        "cancelar",
        "alto",
        "esta",
        "estoy",
        "como",
        "donde",
        "cuando",
        "bien",
        "manana",
        "hermano",
        "hermana",
        "dios",
        "bendiciones",
        "usted",
        "puedo",
        "para",
        "con",
        "mis",
        "nos",
        "los",
        "las",
        "del",
        "que",
        "pero",
        "tengo",
        "hoy",
        "ya",
        "mas",
        "muchas",
        "muchos",
        "misa",
        "culto",
        "oracion",
        "orar",
        "reunion",
        "semana",
        "domingo",
        "sabado",
        "viernes",
        "llamar",
        "llame",
        "envien",
        "enviar",
        "favor",
        "senor",
        "senora",
        "numero",
        "nombre",
        "claro",
        "tambien",
        "aqui",
        "ahora",
        "cuanto",
        "quien",
        "quienes",
        "estan",
        "somos",
        "soy",
        "eres",
        "gusto",
    ]
)
ENGLISH_WORDS = frozenset(
    [
        "the",
        "you",
        "your",
        "thanks",
        "thank",
        "please",
        "hello",
        "yes",
        "what",
        "when",
        "where",
        "is",
        "are",
        "will",
        "would",
        "could",
        "can",
        "this",
        "that",
        "with",
        "for",
        "have",
        "has",
        "from",
        "church",
        "service",
        "today",
        "tomorrow",
        "sunday",
        "see",
        "there",
        "here",
        "how",
        "who",
        "our",
        "we",
        "they",
    ]
)
SPANISH_MARKS = ("¿", "¡", "ñ", "Ñ")


def detect_language(text: str) -> str | None:
    """ "es" when ``text`` reads as Spanish, "en" when it clearly reads as English, else None."""
    if not text:
        return None
    words = normalize(text).split()
    spanish = sum(word in SPANISH_WORDS for word in words)
    english = sum(word in ENGLISH_WORDS for word in words)
    if any(mark in text for mark in SPANISH_MARKS) and spanish >= english:
        return "es"
    if spanish >= 2 and spanish > english:
        return "es"
    if english >= 2 and spanish == 0:
        return "en"
    return None
