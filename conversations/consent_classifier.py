"""What an inbound text means for consent: opt-out, opt-in, help, a case for staff review, or nothing.

Deterministic, no models: the compliance keywords (churches.keywords, providers.md §5) plus phrase
patterns for revocation "in any reasonable manner" (47 CFR 64.1200(a)(10), providers.md §5.1) in
English and Spanish. The order of checks is the policy:

1. normalize (casefold, strip accents, drop punctuation and emoji, fix common misspellings);
2. the whole text is a keyword (politeness words aside) → that keyword's class;
3. benign phrases that contain a trigger word ("don't stop praying", "stop by", "can't stop smiling")
   are blanked out, so their words can't trigger anything below;
4. revocation phrases ("take me off this list", "no me envíen más mensajes") → OPT_OUT;
5. a trigger word left over with no clear meaning ("unsubscribe me from the youth group?", "Stop,
   you're making me cry") → REVIEW: staff decide, nothing is guessed;
6. otherwise NONE: an ordinary message.
"""

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from churches.keywords import HELP_KEYWORDS, OPT_IN_KEYWORDS, OPT_OUT_KEYWORDS


class Intent(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    REVIEW = "review"
    NONE = "none"


@dataclass(frozen=True)
class Classification:
    intent: Intent
    exact_keyword: bool = False  # the text was a compliance keyword (ledger source "keyword")
    reason: str = ""  # which rule decided; shown to staff in the review queue


# --- Normalization -----------------------------------------------------------------------------------

_MISSPELLINGS = {
    # stop
    "stpo": "stop",
    "sotp": "stop",
    "stopp": "stop",
    "stoppp": "stop",
    "sstop": "stop",
    "stpp": "stop",
    "stp": "stop",
    "stopt": "stop",
    "stoo": "stop",
    "atop": "stop",
    "xstop": "stop",
    "stopall": "stopall",
    # unsubscribe and friends
    "unsub": "unsubscribe",
    "unsuscribe": "unsubscribe",
    "unsubcribe": "unsubscribe",
    "unsubscibe": "unsubscribe",
    "unsubscrbe": "unsubscribe",
    "unsubsribe": "unsubscribe",
    "unsubscribed": "unsubscribe",
    "unsuscribir": "unsubscribe",
    "unsubscrib": "unsubscribe",
    "unscribe": "unsubscribe",
    "unsubsrcibe": "unsubscribe",
    "optout": "opt out",
    "cancle": "cancel",
    "cancell": "cancel",
    "qiut": "quit",
    "revok": "revoke",
    # texting shorthand
    "txt": "text",
    "txts": "texts",
    "txting": "texting",
    "msg": "message",
    "msgs": "messages",
    "mesages": "messages",
    "messeges": "messages",
    "massages": "messages",
    "pls": "please",
    "plz": "please",
    "plase": "please",
    "pleas": "please",
    "u": "you",
    "ur": "your",
    "yall": "you",
    "im": "i am",
    "dont": "do not",
    "cant": "can not",
    "cannot": "can not",
    "wont": "will not",
    "didnt": "did not",
    "couldnt": "could not",
    "wouldnt": "would not",
    "shouldnt": "should not",
    "isnt": "is not",
    "aint": "is not",
    "nomas": "no mas",
    "mensages": "mensajes",
    "mesajes": "mensajes",
    "msjs": "mensajes",
    "msj": "mensaje",
}
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u00b4": "'"})
_CONTRACTION = re.compile(r"(\w)'(t|s|m|re|ll|ve|d)\b")
_NON_WORD = re.compile(r"[^a-z0-9\s]+")
_SENTENCE_BREAK = re.compile(r"[.!?;,\n\r]+|\s-\s")
_SPACES = re.compile(r"\s+")
_REPEATS = re.compile(r"([a-z])\1{2,}")  # "stoooop" → "stoop"; handled with the misspelling map


def _strip_accents(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))


def normalize(text: str) -> str:
    """Lower-case ASCII words separated by single spaces, with misspellings and shorthand fixed."""
    text = _strip_accents((text or "").translate(_APOSTROPHES).casefold())
    text = _CONTRACTION.sub(r"\1\2", text)  # don't → dont, I'm → im
    text = _NON_WORD.sub(" ", text)
    text = _REPEATS.sub(r"\1\1", text)
    words = []
    for word in text.split():
        fixed = _MISSPELLINGS.get(word)
        if fixed is None and word.startswith("sto") and set(word[3:]) <= {"p"} and len(word) > 4:
            fixed = "stop"  # stopppp
        words.append(fixed or word)
    return " ".join(words)


def sentences(text: str) -> list[str]:
    """The text split where punctuation splits it, each part normalized; empty parts dropped."""
    parts = (normalize(part) for part in _SENTENCE_BREAK.split(text or ""))
    return [part for part in parts if part]


# --- Keywords ----------------------------------------------------------------------------------------

_OPT_OUT = {normalize(k) for k in OPT_OUT_KEYWORDS} | {"stop all", "stopall", "unsubscribe", "revoke", "opt out"}
_OPT_IN = {normalize(k) for k in OPT_IN_KEYWORDS}
_HELP = {normalize(k) for k in HELP_KEYWORDS}
# Words that may surround a keyword without changing it: "STOP please", "Stop now!!", "unsubscribe thanks".
_FILLER = {
    "please",
    "now",
    "thanks",
    "thank",
    "you",
    "thx",
    "ok",
    "okay",
    "just",
    "it",
    "already",
    "asap",
    "me",
    "sir",
    "maam",
    "again",
    "por",
    "favor",
    "gracias",
    "ya",
    "immediately",
    "right",
    "away",
}
# Short Spanish (and French) opt-out words, valid as the whole text only.
_OPT_OUT_WHOLE = {
    "parar",
    "alto",
    "basta",
    "no mas",
    "cancelar",
    "baja",
    "darme de baja",
    "detener",
    "stop stop",
    "arret",
    "arreter",
    "stop texting",
    "stop messaging",
    "unsubscribe all",
    "end all",
    "quit all",
    "cancel all",
}


def _without_filler(words: list[str]) -> list[str]:
    return [w for w in words if w not in _FILLER]


def _keyword_of(normalized: str) -> str | None:
    words = normalized.split()
    core = " ".join(_without_filler(words)) or normalized
    for candidate in (normalized, core):
        deduped = " ".join(dict.fromkeys(candidate.split()))  # "stop stop stop" → "stop"
        for text in (candidate, deduped):
            if text in _OPT_OUT or text in _OPT_OUT_WHOLE:
                return "opt_out"
            if text in _OPT_IN:
                return "opt_in"
            if text in _HELP:
                return "help"
    return None


# --- Phrases -----------------------------------------------------------------------------------------

_ME = r"(?:me|us|my (?:phone|number|cell|phone number|cell phone)|this (?:phone|number))"
_SMS_NOUN = (
    r"(?:texts?|texting|text messages?|messages?|messaging|sms|notifications?|alerts?|reminders?|updates?"
    r"|this|these|them|it|that)"
)
_SMS_LIST = (
    r"(?:(?:the|this|that|your|ur|ya?ll|these|all|any|of|the church s|the churchs|group)\s+)*"
    r"(?:list|lists|texts?|text list|texting list|messages?|message list|sms|sms list|mailing list|contact list|"
    r"texting|messaging|distribution list|subscribers?|subscription|alerts?|number|contacts|notifications?|"
    r"updates?|broadcasts?|thing|program)"
)
# Benign phrases first: their words are blanked before anything else looks at the text.
_BENIGN = [
    r"\b(?:do not|can not|could not|will not|would not|did not|never|not|no one can|nobody can|nothing can|"
    r"wo not|shall not|should not|must not|is not going to|not going to)\s+(?:\w+\s+){0,2}?stop\w*(?:\s+\w+)?",
    r"\bstop(?:ped|ping|s)?\s+(?:by|in|over|at|off|for|to|on|the car|and|praying|worrying|crying|laughing|"
    r"smiling|thinking|talking|giving|believing|serving|singing|raining|snowing|complaining|doubting|"
    r"by the|motion|sign|light|watch)\b",
    r"\b(?:bus|pit|one|last|next|first|full|truck|rest|non|quick|short|final)\s+stop\b",
    r"\bnon ?stop\b",
    r"\bstop(?:ped|ping)\b",
    r"\b(?:make|made|let|help|helped|will|would)\s+(?:\w+\s+)?stop\b(?!\s+(?:text|message|send|contact))",
    r"\bstop\s+(?:him|her|them|the bleeding|the rain|the noise|the fighting|the violence|you from)\b",
    r"\bcan (?:we|i|you|they|he|she) stop\s+(?:by|in|at|over)\b",
    r"\b(?:the |an? |in the |at the |to the |by the |till the |until the )end\b",
    r"\bend (?:of|time|times|up|date|result|goal|zone)\b",
    r"\b(?:cancel|cancell?ed|cancelling|canceling|cancellation)\s+(?:the|my|our|a|your|his|her|their|tonight|"
    r"tomorrow|practice|dinner|lunch|meeting|appointment|reservation|rsvp|order|class|service|event|trip|plans?|"
    r"booking|ride|flight)\b(?!\s+(?:texts?|messages?|subscription|sms|alerts?|notifications?))",
    r"\b(?:is|was|are|were|be|been|got|get|it s|its|it is)\s+(?:\w+\s+)?(?:cancell?ed|canceled|over)\b",
    r"\bquit(?:ting|s)?\s+(?:smoking|drinking|my job|the job|work|school|the team|vaping|sugar|coffee|caffeine|"
    r"worrying|complaining)\b",
    r"\b(?:remove|removed|removing)\s+(?:the|a|an|his|her|our|that|this)\s+(?!list|text|message|number)\w+",
    r"\bno more\s+(?:than|room|seats|space|tickets|spots|food|chairs|pain|tears|worries|sickness|chemo|fever)\b",
    r"\bno mas\s+(?:de|que|dolor|lagrimas)\b",
    r"\bpara\s+(?:el|la|los|las|mi|tu|su|nuestro|nuestra|que|ti|mi|usted|ustedes|hoy|manana|siempre)\b",
    r"\ben lo alto\b",
    r"\bleave (?:early|late|now|at|it|the|a)\b",
    r"\b(?:opt|opted|opting) in\b",
    r"\bunstop\b",
    r"\bquit(?:ting|s)?\s+(?:her|his|their|my|our|the|a|an)\s+(?!texts?|messages?|list|texting)\w+",
    r"\bstop (?:the|this|that) (?!texts?|messages?|sms|notifications?|alerts?|spam|list|nonsense|texting|"
    r"messaging)\w+",
    r"\b(?:no puedo|no podemos|no pude|sin|no paro de|no para de) parar\b",
    r"\bparar de (?!enviar|mandar|escribir|textear|contactar)\w+",
]
_BENIGN_RE = [re.compile(p) for p in _BENIGN]

_REVOCATION = [
    # "stop texting me", "please stop sending me these messages", "quit messaging us"
    rf"\b(?:stop|quit|cease|end|discontinue|halt|cancel|pause)\s+(?:\w+\s+){{0,2}}?(?:texting|messaging|sending|"
    rf"contacting|txting|calling and texting|emailing and texting|spamming|bothering)\b(?:\s+{_ME})?",
    r"\b(?:stop|quit|cease|end|cancel|discontinue|halt)\s+(?:all|any|the|these|those|your|ur|this|my)?\s*"
    r"(?:\w+\s+)?(?:texts|text messages|messages|sms|notifications|alerts|subscription|msgs)\b",
    # "take me off this list", "remove my number", "delete me from your list", "unsubscribe me"
    rf"\b(?:take|get|remove|delete|drop|erase|scratch|cross|pull)\s+{_ME}\s+(?:off|from|out of)(?:\s+{_SMS_LIST})?\s*$",
    rf"\b(?:take|get|remove|delete|drop|erase|scratch|cross|pull)\s+{_ME}\s+(?:off|from|out of)\s+{_SMS_LIST}\b",
    rf"\b(?:remove|delete|erase|drop)\s+{_ME}\s*$",
    r"\b(?:remove|delete|erase|drop)\s+(?:my number|my phone|my phone number|my cell|my contact|my info)\b",
    rf"\b(?:unsubscribe|opt out|unenroll|unregister|deregister|unlist)\s+{_ME}\b(?!\s+(?:from|of)\s+(?!{_SMS_LIST}))",
    rf"\b(?:unsubscribe|opt out|unenroll)\s+(?:from|of)\s+{_SMS_LIST}\b",
    rf"\b(?:opt|sign|take)\s+{_ME}\s+out\b(?!\s+(?:of|from)\s+(?!{_SMS_LIST}))",
    # "no more messages", "no more texts please"
    rf"\bno more\s+(?:\w+\s+)?{_SMS_NOUN}\b",
    r"\bno more\s*$",
    # "don't text me anymore", "do not contact me", "never text me again"
    rf"\b(?:do not|never|stop|quit)\s+(?:ever\s+)?(?:text|message|contact|send|msg|txt|sms|bother|spam)\w*\s+"
    rf"(?:{_ME}|to {_ME})(?:\s+(?:any ?more|again|ever|any longer|no more|at all|please))?\s*$",
    rf"\b(?:do not|never)\s+(?:text|message|contact|send|sms)\w*\s+(?:{_ME}\s+)?(?:any ?more|again|ever again|"
    rf"any longer|no more)\b",
    rf"\b(?:do not|never)\s+(?:send|text)\s+(?:{_ME}\s+)?(?:any|anymore|more|these|your|this)\s+(?:\w+\s+)?"
    rf"{_SMS_NOUN}\b",
    # "I want to unsubscribe", "I'd like to opt out", "I no longer want these texts"
    rf"\b(?:want|wanna|would like|like|wish|need|trying|try|going|how do i|how can i|how to|can i|let me|"
    rf"please|i|we)\s+(?:to\s+)?(?:unsubscribe|opt out|be removed|be taken off|stop (?:receiving|getting)|"
    rf"stop these|cancel (?:the|these|my) (?:texts|messages|subscription))\b"
    rf"(?!\s+(?:of|from)\s+(?!{_SMS_LIST}))",
    r"\b(?:do not|no longer|not)\s+(?:want|wish|need|like)\s+(?:to\s+)?(?:get|receive|have|be on)?\s*"
    r"(?:any|these|your|the|this|those|them|more|anymore)?\s*(?:\w+\s+)?(?:texts|messages|text messages|sms|"
    r"notifications|alerts|list|texting|messaging)\b",
    r"\b(?:do not|no longer|not)\s+(?:want|wish)\s+(?:to\s+)?(?:be\s+)?(?:texted|contacted|messaged|on (?:the|"
    r"this|your) list)\b",
    r"\bi (?:do not|no longer) want (?:these|this|them|it|your texts|your messages)\s*(?:any ?more)?\s*$",
    r"\b(?:revoke|withdraw|cancel|rescind)\s+(?:my\s+)?(?:consent|permission|subscription)\b",
    r"\bleave me alone\b",
    r"\bstop (?:it|this|that|them|now)\s*$",
    r"\bstop spamming\b",
    r"\bquit spamming\b",
    r"\bstop bothering\b",
    r"\bsubscribe me out\b",
    # Spanish: "no me envíen más mensajes", "dejen de mandarme mensajes", "quiero darme de baja"
    r"\bno (?:me |nos )?(?:envi\w*|mand\w*|escrib\w*|text\w*|contact\w*|llam\w*)\s+(?:\w+\s+)?(?:mas|nunca)\b",
    r"\bno (?:me |nos )?(?:envi\w*|mand\w*|escrib\w*|text\w*|contact\w*)\s+(?:mas\s+)?(?:mensajes|textos|sms|"
    r"msjs|nada)\b",
    r"\bno (?:quiero|queremos|deseo|deseamos) (?:recibir|mas|seguir recibiendo|ningun|sus|estos|los|tus)\b",
    r"\bya no (?:quiero|queremos|deseo|me envien|me manden|mas)\b",
    r"\bdej\w* de (?:enviar|mandar|escribir|textear|contactar|molestar)\w*\b",
    r"\b(?:para|paren|pare|detenga|detengan|deten)\s+(?:de\s+)?(?:enviar|mandar|escribir|los mensajes|"
    r"mensajes|textos)\w*\b",
    r"\bno mas (?:mensajes|textos|sms|msjs|por favor|gracias)\b",
    r"\b(?:dar|darme|darnos|de) de baja\b",
    r"\b(?:quit|sac|borr|elimin|remuev|retir|bor)\w*\s+(?:me|nos)?\s*(?:mi|de la|del|de esta|de su|de tu)?\s*"
    r"(?:numero|lista|list|registro)\b",
    r"\b(?:sacame|sacarme|quitame|quitarme|borrame|borrarme|eliminame|eliminarme|quitenme|saquenme|"
    r"borrenme|eliminenme)\b",
    r"\bcancelar (?:la suscripcion|mi suscripcion|suscripcion|mensajes|los mensajes)\b",
    r"\bdesuscribir\w*\b",
    r"\b(?:no molesten|no molestar|dejenme en paz|dejame en paz)\b",
]
_REVOCATION_RE = [re.compile(p) for p in _REVOCATION]

# Words that, left over after the benign blanks, make a text worth a human look.
_TRIGGERS = re.compile(
    r"\b(?:stop|stopall|unsubscribe|opt out|revoke|cancel|quit|remove me|take me off|parar|alto|basta|"
    r"wrong number|not interested|no more|baja|block|blocking|report you|reported|spam|keep texting|"
    r"keep messaging|keep sending|stop these|stop getting|stop receiving)\b"
)
# A text whose only sentence-level keyword sits among jokes reads as play, not revocation.
_PLAYFUL = re.compile(r"\b(?:lol|lmao|haha\w*|jaja\w*|hehe\w*|making me|you are killing me|too funny|rofl)\b")
_STANDALONE_SENTENCE_OPT_OUT = {"stop", "unsubscribe", "opt out", "stop all", "stopall", "revoke", "stop texting"}


def _blank_benign(normalized: str) -> str:
    for pattern in _BENIGN_RE:
        normalized = pattern.sub(" ", normalized)
    return _SPACES.sub(" ", normalized).strip()


def classify(text: str, *, opted_out: bool = False) -> Classification:
    """Classify one inbound text. ``opted_out``: the sender is currently unsubscribed (YES then means
    opt back in, as Twilio's default keywords have it; otherwise YES is an ordinary answer)."""
    normalized = normalize(text)
    if not normalized:
        return Classification(Intent.NONE, reason="empty")

    keyword = _keyword_of(normalized)
    if keyword == "opt_in" and "yes" in normalized.split() and (normalized != "yes" or not opted_out):
        keyword = None  # YES opts in only as the whole text, from someone who opted out
    if keyword is not None:
        return Classification(Intent(keyword), exact_keyword=True, reason="keyword")

    cleaned = _blank_benign(normalized)
    for pattern in _REVOCATION_RE:
        if pattern.search(cleaned):
            return Classification(Intent.OPT_OUT, reason=f"phrase: {pattern.pattern[:60]}")

    # A sentence of its own that is a keyword ("Thanks. STOP"), unless the text is joking around.
    parts = sentences(text)
    if len(parts) > 1:
        for part in parts:
            core = " ".join(_without_filler(part.split())) or part
            if core in _STANDALONE_SENTENCE_OPT_OUT and _blank_benign(part):
                if _PLAYFUL.search(normalized):
                    return Classification(Intent.REVIEW, reason="keyword sentence in a playful text")
                return Classification(Intent.OPT_OUT, reason="keyword sentence")
            if core in _OPT_OUT or core in _OPT_OUT_WHOLE:
                return Classification(Intent.REVIEW, reason=f"“{core}” on its own among other sentences")

    trigger = _TRIGGERS.search(cleaned)
    if trigger:
        return Classification(Intent.REVIEW, reason=f"“{trigger.group(0)}” with no clear meaning")
    return Classification(Intent.NONE)
