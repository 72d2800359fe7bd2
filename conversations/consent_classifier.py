"""What an inbound text means for consent: opt-out, opt-in, help, a case for staff review, or nothing.

Deterministic, no models: the compliance keywords (churches.keywords, providers.md §5) plus phrase
patterns for revocation "in any reasonable manner" (47 CFR 64.1200(a)(10), providers.md §5.1) in
English and Spanish. The order of checks is the policy:

1. normalize (casefold, strip accents, drop punctuation and emoji, fix common misspellings), sentence
   by sentence; in a short text, a word one transposition away from a keyword ("sotp", "reomve") is
   read as that keyword (bounded Damerau distance, see ``_fix_typo``);
2. the whole text is a keyword (politeness words aside) → that keyword's class;
3. benign phrases that contain a trigger word ("don't stop praying", "stop by", "can't stop smiling",
   "unsubscribe my email from the newsletter", "keep texting me", "no me quiten de la lista") are
   blanked out, so their words can't trigger anything below;
4. revocation phrases ("take me off this list", "no me envíen más mensajes") → OPT_OUT, unless the
   same text also asks to keep the texts, speaks for someone else ("stop texting my wife") or names
   only some texts ("stop the youth texts") → REVIEW;
5. a keyword as a sentence of its own ("Thanks. STOP") → OPT_OUT, or REVIEW when it reads as an
   interjection ("Stop, you're making me cry");
6. a trigger word left over with no clear meaning ("unsubscribe me from the youth group?", "wrong
   number") → REVIEW: staff decide, nothing is guessed;
7. otherwise NONE: an ordinary message.

Precision matters as much as recall: a benign text must not opt its member out, and the review queue
only works while staff read it, so ordinary replies must not land there. tests/conversations/
consent_corpus.tsv is the labelled spec; test_consent_corpus.py prints precision, recall and the
review rate against it. Everything is precompiled at import; a text costs a few dozen regex scans.
"""

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

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
    "doesnt": "does not",
    "arent": "are not",
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


# --- Transposed letters --------------------------------------------------------------------------------

# Keywords a thumb slip may scramble, with the edit distance still read as the keyword. Short keywords
# accept one transposition only ("sotp", "reomve", "qiut"): a substitution or an insertion would make
# real words of them ("cancer", "quite", "removed"). "unsubscribe" is long enough for two edits of any
# kind ("unsubcsribe", "usnubscribe"), as long as it still starts with "u" ("subscribe" and
# "resubscribe" are two edits away).
_FUZZY_KEYWORDS = {
    "stop": 1,
    "stopall": 1,
    "quit": 1,
    "cancel": 1,
    "remove": 1,
    "revoke": 1,
    "cancelar": 1,
    "unsubscribe": 2,
}
_FUZZY_LETTERS = {keyword: sorted(keyword) for keyword in _FUZZY_KEYWORDS}
# Only texts this short: a long one says what it means in other words, and each extra word is one more
# chance of a false match.
_FUZZY_MAX_WORDS = 6


def _osa_distance(a: str, b: str, bound: int) -> int:
    """Damerau distance (optimal string alignment: insert, delete, substitute, swap two neighbours),
    giving up with ``bound + 1`` as soon as every alignment is already further than ``bound``."""
    if abs(len(a) - len(b)) > bound:
        return bound + 1
    before, previous = [], list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], before[j - 2] + 1)
        if min(current) > bound:
            return bound + 1
        before, previous = previous, current
    return previous[-1]


@lru_cache(maxsize=4096)
def _fix_typo(word: str) -> str:
    """The keyword ``word`` is a slip of, or ``word`` itself. Cached: replies repeat the same words."""
    if len(word) < 4 or word in _FUZZY_KEYWORDS:
        return word
    for keyword, bound in _FUZZY_KEYWORDS.items():
        if bound == 1 and sorted(word) != _FUZZY_LETTERS[keyword]:
            continue  # not an anagram, so not one transposition away
        if bound > 1 and word[0] != keyword[0]:
            continue
        if _osa_distance(word, keyword, bound) <= bound:
            return keyword
    return word


def _fix_typos(parts: list[str]) -> list[str]:
    if sum(part.count(" ") + 1 for part in parts) > _FUZZY_MAX_WORDS:
        return parts
    return [" ".join(_fix_typo(word) for word in part.split()) for part in parts]


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
    "stop text",
    "unsubscribe all",
    "end all",
    "quit all",
    "cancel all",
}


def _without_filler(words: list[str]) -> list[str]:
    return [w for w in words if w not in _FILLER]


def _keyword_of(normalized: str) -> str | None:
    words = normalized.split()
    if len(words) > 2 and all(len(word) == 1 for word in words):
        words = ["".join(words)]  # "S T O P"
        normalized = words[0]
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
    r"(?:(?:the|this|that|your|ur|ya?ll|these|all|any|of|the church s|the churchs|church|group|\w+ (?:and|or|n))\s+)*"
    r"(?:list|lists|texts?|text lists?|texting list|messages?|message list|sms|sms list|mailing list|contact list|"
    r"texting|messaging|distribution list|subscribers?|subscription|alerts?|number|contacts|notifications?|"
    r"updates?|broadcasts?|thing|program|everything)"
)
# Channels that are not these texts: unsubscribing from them says nothing about SMS consent.
_OTHER_CHANNEL = (
    r"(?:e ?mails?|mail|newsletters?|bulletins?|magazines?|paper|printed|catalogs?|netflix|spotify|youtube|"
    r"hulu|amazon|podcasts?|channels?|apps?|facebook|instagram|tiktok|correo|correos|boletin|revista)"
)
# ... unless the texts come right after: "take me off your email and text lists"
_NOT_SMS_AFTER = (
    r"(?!\s+(?:texts?|text messages|messages?|sms|texting|phone)\b)"
    r"(?!\s+(?:and|or|plus|n)\s+(?:the\s+|your\s+)?(?:texts?|text messages|messages?|sms|alerts?|reminders?|"
    r"notifications?|texting|phone)\b)"
)
_RELATIVE = (
    r"(?:wife|husband|son|daughter|mom|mother|dad|father|kids?|child|children|grandma|grandmother|grandpa|"
    r"grandfather|brother|sister|boss|friend|roommate|aunt|uncle|niece|nephew|spouse|partner)"
)
# Benign phrases first: their words are blanked before anything else looks at the text. They run on
# each sentence on its own, so ^ and $ are a sentence's edges.
_BENIGN = [
    # unsubscribing from something else: "unsubscribe my old email from the newsletter", "cancel my Netflix"
    rf"\b(?:unsubscribe|opt out|cancel|remove|delete|take|stop|get)\s+(?:\w+\s+){{0,4}}?{_OTHER_CHANNEL}\b"
    rf"{_NOT_SMS_AFTER}(?:\s+(?:from|of|off|out of)\s+(?:\w+\s+){{0,2}}?{_OTHER_CHANNEL}\b{_NOT_SMS_AFTER})?",
    rf"\b(?:dar|darme|darnos|doy|de|den) de baja\s+(?:del?|de la|de los|de las)\s+(?:\w+\s+)?{_OTHER_CHANNEL}\b",
    # asking to stay: "don't take me off the list", "please don't unsubscribe me", "keep texting me"
    r"\b(?:do not|never)\s+(?:unsubscribe|remove|take|delete|drop|opt|cancel|kick)\s+(?:me|us|my number|this number)"
    r"(?:\s+(?:off|from|out of|out))?(?:\s+(?:of|the|this|your|my|text|texting|group))*(?:\s+list)?",
    r"(?:^|\b(?:please|pls|can you|could you|will you|would you|you can|you may|just|yes|ok|okay|and|but|so|"
    r"always|thanks|thank you|amen)\s+)keep\s+(?:texting|messaging|sending|the texts|the messages|them|these|it)"
    r"(?:\s+(?:me|us|these|them|coming|the \w+))*",
    r"\bno (?:me |nos )?(?:(?:quit|sac|saqu|borr|elimin)\w*|den|des)\s+(?:de\s+)?(?:baja\s+)?"
    r"(?:(?:de|la|su|mi|del|esta)\s+)*(?:lista|numero)?",
    r"\bno (?:dejen|deje|dejes|dejan) de (?:enviar|mandar|escribir|textear)\w*(?:\s+(?:los|sus|estos))?"
    r"(?:\s+(?:mensajes|textos))?",
    # "cancel" asked about, not ordered: "did they cancel bible study?", "should we cancel the bake sale?"
    r"(?<!\bhow )\b(?:did|do|does|will|would|should|could|can|are|is|was|were|if|why|when)\s+(?:\w+\s+){0,2}?"
    r"cancel\w*\b(?!\s+(?:(?:the|these|those|my|your|all|this|our|any)\s+)?(?:texts?|text messages|messages?|"
    r"subscription|sms|alerts?|notifications?|texting|reminders?)\b)",
    r"^(?:cancel|scratch|ignore|disregard) (?:that|my last (?:text|message))$",
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
    # "no more chairs", "no more of that cake"; not "no more texts", "no more of this", "no more, thanks"
    r"\bno more\s+(?!(?:(?:of|your|these|the|those|church|group|daily|stupid|annoying)\s+)*(?:texts?|texting|"
    r"messages?|messaging|sms|notifications?|alerts?|reminders?|updates?|msgs|spam|contact|emails?)\b)"
    r"(?!(?:of\s+)?(?:please|pls|thanks|thank|now|ever|again|for me|from you|this|these|them|it|that)\b"
    r"(?:\s+(?:please|pls|thanks|thank you|now))*\s*$)\w+",
    r"\bno mas\s+(?:de|que|dolor|lagrimas)\b",
    r"\bpara\s+(?:el|la|los|las|mi|tu|su|nuestro|nuestra|que|ti|mi|usted|ustedes|hoy|manana|siempre)\b",
    r"\ben lo alto\b",
    r"\bleave (?:early|late|now|at|it|the|a)\b",
    r"\b(?:opt|opted|opting) in\b",
    r"\bunstop\b",
    r"\bquit(?:ting|s)?\s+(?:her|his|their|my|our|the|a|an)\s+(?!texts?|messages?|list|texting)\w+",
    # someone quit something: "my son quit football" (not "I quit!", not "quit texting me")
    r"\b(?!(?:please|pls|plz|just|so|now|ok|okay|and|but|then|to)\b)\w+\s+quit\b(?=\s+\w)"
    r"(?!\s+(?:texting|messaging|sending|contacting|the texts|these|this|it|your))",
    r"\bstop (?:the|this|that) (?!(?:\w+ ){0,2}(?:texts?|messages?|sms|notifications?|alerts?|spam|list|nonsense|"
    r"texting|messaging|reminders?)\b)\w+",
    r"\b(?:no puedo|no podemos|no pude|sin|no paro de|no para de) parar\b",
    r"\bparar de (?!enviar|mandar|escribir|textear|contactar)\w+",
]
_BENIGN_RE = [re.compile(p) for p in _BENIGN]

_ES_SEND = (
    r"(?:envi(?:en|e|es|ar)|mand(?:en|e|es|ar)|escrib(?:an|a|as|ir)|textee?n?|textear|contact(?:en|e|es|ar)|"
    r"llam(?:en|e|es|ar))"
)
_ES_SMS_NOUN = r"(?:mensajes|mensajitos|textos|sms|msjs|notificaciones|avisos)\b"
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
    rf"\b(?:take|get|remove|delete|drop)\s+{_ME}\s+(?:off|from|out of)\s+(?:this|that|it|these|them|all)\s*$",
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
    r"\b(?:do not|no longer|not)\s+(?:want|wish|need|like)\s+(?:to\s+)?(?:get|receive|have)?\s*"
    r"(?:any|these|your|the|this|those|them|more|anymore)?\s*(?:\w+\s+)?(?:texts|messages|text messages|sms|"
    r"notifications|alerts|texting|messaging)\b",
    r"\b(?:do not|no longer|not)\s+(?:want|wish)\s+to\s+be\s+on\s+(?:the|this|your|any)\s+(?:\w+\s+)?list\b",
    r"\b(?:do not|no longer|not)\s+(?:want|wish)\s+(?:to\s+)?(?:be\s+)?(?:texted|contacted|messaged|on (?:the|"
    r"this|your) list)\b",
    r"\bi (?:do not|no longer) want (?:these|this|them|it|your texts|your messages)\s*(?:any ?more)?\s*$",
    r"\b(?:revoke|withdraw|cancel|rescind)\s+(?:my\s+)?(?:consent|permission|subscription)\b",
    r"\bleave me alone\b",
    rf"\b(?:want|wanna|need|get|let me)\s+off\s+(?:of\s+)?{_SMS_LIST}\b",
    r"\blose (?:my|this) number\b",
    r"\b(?:want|need|would like|wish)\s+(?:these|the|your|all|this|those)\s+(?:\w+\s+)?(?:texts|messages|text messages)"
    r"\s+to\s+(?:stop|end)\b",
    r"\b(?:quit|stop|enough) (?:it )?with (?:the|these|your|all the|all these) (?:\w+ )?(?:texts|messages)\b",
    r"\b(?:i|we) (?:said|told you|already said|already told you|texted|sent|asked you to) stop\b",
    r"\b(?:unsubscribe|opt out|stop|remove)\b.*\bstill (?:get|getting|receive|receiving)\b",
    r"(?:^|\b(?:please|pls|just|wrong number)\s+)remove\s*$",
    r"\bstop (?:it|this|that|them|now)\s*$",
    r"\bstop spamming\b",
    r"\bquit spamming\b",
    r"\bstop bothering\b",
    r"\bsubscribe me out\b",
    # Spanish: "no me envíen más mensajes", "dejen de mandarme mensajes", "quiero darme de baja"
    # (commands only: "no me mandaron más información" is past tense, "no quiero más pastel" isn't about texts)
    rf"\bno (?:me |nos )?{_ES_SEND}\s+(?:\w+\s+)?(?:mas|nunca)\b",
    rf"\bno (?:me |nos )?{_ES_SEND}\s+(?:mas\s+)?(?:mensajes|textos|sms|msjs|nada)\b",
    rf"\bno (?:quiero|queremos|deseo|deseamos) (?:recibir|seguir recibiendo|(?:mas|ningun|sus|estos|los|tus|"
    rf"mas de sus)\s+(?:\w+\s+)?{_ES_SMS_NOUN}|mas\s*$)",
    rf"\bya no (?:quiero|queremos|deseo) (?:recibir|nada|mas\s*$|(?:mas |sus |los |estos )?{_ES_SMS_NOUN})",
    rf"\bya no (?:(?:me |nos )?{_ES_SEND}|mas)\b",
    r"\bno (?:quiero|queremos|deseo) (?:estar|seguir) en (?:la|esta|su|tu) lista\b",
    rf"\bsal(?:ir|irme|go|gome) de (?:la |esta |su |tu )?(?:lista|grupo de {_ES_SMS_NOUN})",
    r"\bdej\w* de (?:enviar|mandar|escribir|textear|contactar|molestar)\w*\b",
    r"\b(?:para|paren|pare|parar|detenga|detengan|deten|detener)\s+de\s+(?:enviar|mandar|escribir|textear)\w*\b",
    rf"\b(?:paren|parar|detenga|detengan|deten|detener)\s+(?:los |sus |estos )?{_ES_SMS_NOUN}",
    r"\bno mas (?:mensajes|textos|sms|msjs|por favor|gracias)\b",
    rf"\bbasta de {_ES_SMS_NOUN}",
    rf"\balto a (?:los |sus |estos )?{_ES_SMS_NOUN}",
    # "darme de baja", "¿cómo me doy de baja?"; "de baja del grupo de jóvenes" is for staff
    r"\b(?:dar|darme|darnos|de|doy|den) de baja\b(?!\s+(?:del?|de la|de los|de las|en)\b)",
    rf"\b(?:dar|darme|darnos|de|doy|den) de baja de (?:(?:la|esta|su|tu) lista|"
    rf"(?:los |sus |estos )?{_ES_SMS_NOUN})",
    r"\b(?:quit|sac|saqu|borr|elimin|remuev|retir|bor)\w*\s+(?:me|nos)?\s*"
    r"(?:mi|de la|del|de esta|de su|de tu|este|ese|el)?\s*"
    r"(?:numero|lista|list|registro)\b",
    r"\b(?:sacame|sacarme|quitame|quitarme|borrame|borrarme|eliminame|eliminarme|quitenme|saquenme|"
    r"borrenme|eliminenme)\b",
    r"\bcancelar (?:la suscripcion|mi suscripcion|suscripcion|mensajes|los mensajes)\b",
    r"\bdesuscribir\w*\b",
    r"\b(?:no molesten|no molestar|dejenme en paz|dejame en paz)\b",
]
_REVOCATION_RE = [re.compile(p) for p in _REVOCATION]

# Words that, left over after the benign blanks, make a text worth a human look. Not the Spanish
# "parar", "alto", "baja" inside a sentence: everyday words ("vamos a parar en la tienda", "el volumen
# está muy alto", "planta baja"); on their own, or as a sentence of their own, they are still caught.
_TRIGGERS = re.compile(
    r"\b(?:stop|stopall|unsubscribe|opt out|revoke|cancel|quit|remove me|take me off|basta|"
    r"(?:dar|darme|darnos|doy|de|den|des) de baja|"
    r"wrong number|wrong person|not interested|no more|block|blocking|report you|reported|spam|keep texting|"
    r"keep messaging|keep sending|stop these|stop getting|stop receiving|too many (?:texts|messages)|"
    r"(?:fewer|less) (?:texts|messages)|pause (?:\w+ )?(?:texts|messages)|someone else|not my number|"
    r"numero equivocado|no me interesa|demasiados mensajes|menos mensajes|"
    r"why (?:are|do) you (?:keep )?(?:texting|messaging|contacting)|"
    r"(?:remove|delete) (?:his|her|their) (?:number|phone|cell))\b"
)
# A text whose only sentence-level keyword sits among jokes reads as play, not revocation.
_PLAYFUL = re.compile(r"\b(?:lol|lmao|haha\w*|jaja\w*|hehe\w*|making me|you are killing me|too funny|rofl)\b")
_STANDALONE_SENTENCE_OPT_OUT = {"stop", "unsubscribe", "opt out", "stop all", "stopall", "revoke", "stop texting"}
# "Stop, I'm at work": a keyword opening a comma clause is an interjection, unless the rest of the text
# says why the texts are unwanted ("Stop, wrong number").
_INTERJECTION = re.compile(r"^\W*stop+\s*,")
_UNWANTED = re.compile(
    r"\b(?:wrong number|who is this|never signed up|spam|not interested|leave me alone|unsubscribe|remove me|"
    r"take me off|numero equivocado)\b"
)
# A revocation phrase alongside one of these is not decided automatically:
# the text also asks to keep the texts ("unsubscribe my email, this number is fine")
_KEEP = re.compile(
    r"(?<!you )(?<!they )(?<!\bu )\bkeep (?:texting|messaging|sending|the texts|the messages|me on)\b|"
    r"\bthis number is (?:fine|ok|okay|good)\b|\b(?:the )?(?:texts?|messages?) (?:are|is) (?:fine|ok|okay|good|"
    r"enough)\b|\bstill want (?:the |your )?(?:texts|messages)\b|\bsigan (?:mandando|enviando|escribiendo)\b|"
    r"\bmensajes si los quiero\b|\beste numero esta bien\b"
)
# it speaks for someone else ("stop texting my wife", "my mom does not want these texts")
_THIRD_PARTY = re.compile(
    rf"\b(?:texting|messaging|contacting|remove|take|delete|unsubscribe|to)\s+(?:my|his|her|our)\s+{_RELATIVE}\b|"
    rf"\b(?:my|his|her|our)\s+{_RELATIVE}\s+(?:does not|do not|no longer|wants|would like|asked)\b"
)
# it names only some of the texts ("stop getting the youth texts")
_PARTIAL = re.compile(
    r"\b(?:youth|choir|kids|childrens|mens|womens|volunteer|ministry|worship team|small group|bible study|"
    r"sunday school|vbs|event|newsletter|prayer)\s+(?:texts?|messages?|reminders?|alerts?|notifications?|updates?)\b|"
    # ... or only some times ("stop texting me on Sundays")
    r"\b(?:on|during|at|before|after|in the)\s+(?:sundays?|mondays?|tuesdays?|wednesdays?|thursdays?|fridays?|"
    r"saturdays?|weekends?|weekdays?|nights?|mornings?|evenings?|work|church|night time|the morning|the evening)\b"
)
_TRAILING_FILLER = re.compile(
    r"(?:\s+(?:please|pls|thanks|thank you|thx|now|asap|immediately|ok|okay|por favor|gracias))+$"
)


def _blank_benign(normalized: str) -> str:
    for pattern in _BENIGN_RE:
        normalized = pattern.sub(" ", normalized)
    return _SPACES.sub(" ", normalized).strip()


def _revocation(cleaned: str) -> re.Pattern | None:
    trimmed = _TRAILING_FILLER.sub("", cleaned)  # "remove me please" reads as "remove me"
    for pattern in _REVOCATION_RE:
        if pattern.search(cleaned) or (trimmed != cleaned and pattern.search(trimmed)):
            return pattern
    return None


def classify(text: str, *, opted_out: bool = False) -> Classification:
    """Classify one inbound text. ``opted_out``: the sender is currently unsubscribed (YES then means
    opt back in, as Twilio's default keywords have it; otherwise YES is an ordinary answer)."""
    parts = _fix_typos(sentences(text))
    normalized = " ".join(parts)  # what normalize(text) gives, sentence breaks being non-word characters
    if not normalized:
        return Classification(Intent.NONE, reason="empty")

    keyword = _keyword_of(normalized)
    if keyword == "opt_in" and "yes" in normalized.split() and (normalized != "yes" or not opted_out):
        keyword = None  # YES opts in only as the whole text, from someone who opted out
    if keyword is not None:
        return Classification(Intent(keyword), exact_keyword=True, reason="keyword")

    cleaned = " ".join(filter(None, (_blank_benign(part) for part in parts)))
    pattern = _revocation(cleaned)
    if pattern is not None:
        if _KEEP.search(normalized):
            return Classification(Intent.REVIEW, reason="asks to stop and to keep the texts")
        if _THIRD_PARTY.search(cleaned):
            return Classification(Intent.REVIEW, reason="opt-out for someone else")
        if _PARTIAL.search(cleaned):
            return Classification(Intent.REVIEW, reason="opt-out from some texts only")
        return Classification(Intent.OPT_OUT, reason=f"phrase: {pattern.pattern[:60]}")

    # A sentence of its own that is a keyword ("Thanks. STOP"), unless the text is joking around.
    if len(parts) > 1:
        for part in parts:
            core = " ".join(_without_filler(part.split())) or part
            if core in _STANDALONE_SENTENCE_OPT_OUT and _blank_benign(part):
                if _PLAYFUL.search(normalized):
                    return Classification(Intent.REVIEW, reason="keyword sentence in a playful text")
                if _INTERJECTION.match(text.casefold()) and not _UNWANTED.search(normalized):
                    return Classification(Intent.REVIEW, reason="keyword as an interjection")
                return Classification(Intent.OPT_OUT, reason="keyword sentence")
            if core in _OPT_OUT or core in _OPT_OUT_WHOLE:
                return Classification(Intent.REVIEW, reason=f"“{core}” on its own among other sentences")

    trigger = _TRIGGERS.search(cleaned)
    if trigger:
        return Classification(Intent.REVIEW, reason=f"“{trigger.group(0)}” with no clear meaning")
    return Classification(Intent.NONE)
