"""The words Sayso listens for in Slack, in English and Simplified Chinese.

Confirmation replies (`is_confirmation`) are a whitelist of whole replies, never a substring
search: a reply confirms a record only when, once normalised, it *is* one of
`CONFIRMATION_REPLIES`. Normalising removes, and only removes:

- leading Slack mentions (`<@U0SAYSOBOT> confirmed`) and surrounding whitespace;
- trailing closing punctuation (`.`, `!`, `。`, `！`, `~`, `…`) and trailing emoji, whether
  sent as characters (👍) or as Slack shortcodes (`:+1:`, `:white_check_mark:`);
- case, and the spaces and commas between words (`ok, confirmed` = `OK confirmed`).

Anything else keeps the reply out: a question mark anywhere (`confirm?`, `可以吗？`), a
negation (`not confirmed`, `不同意`), a condition (`yes but wait until Monday`) or any other
extra word. Bare acknowledgements (`ok`, `好的`, 👍) are not consent and do not confirm.
A false negative costs the requester one click on the card; a false positive puts words
in their mouth, so the list is kept short.

Near misses (`is_near_miss`) are the replies that look like an attempt to answer but are
not a confirmation; the requester who writes one is told privately how to confirm, and
nothing is recorded. A near miss is, once normalised as above:

- a confirmation or an acknowledgement asked as a question (`confirm?`, `确认吗？`, `ok?`);
- an acknowledgement (`ACKNOWLEDGEMENTS`: `ok`, `sure`, `好的`, `收到`...) or approving emoji
  alone (👍, 👌, ✅, `:+1:`, `:white_check_mark:`...);
- a short reply (at most `NEAR_MISS_WORDS` words, `NEAR_MISS_CJK` Chinese characters and
  `NEAR_MISS_LENGTH` characters) with a word of assent in it (`confirmed, thanks`,
  `yes please`, `确认了`, `ok 同意`), unless it is a question, says no, asks something of
  someone else, or holds the answer back (`not yet`, `wait`, `but`, `先别`, `请确认一下`).

Questions about the request (`can you confirm the impact?`) and longer messages are
conversation, not near misses.

Nudge phrases (`nudge_phrase`) only trigger a private reminder to the team member to
capture the instruction, so they are matched inside longer messages, with guards against
the common misreadings: a negation just before the phrase (`we should not skip the ticket`,
`别直接改`) cancels it, and phrases that are also ordinary words only count in their
responsibility-shifting shape (`it's on me` but not `count on me`, `我负责` but not
`我负责的模块`, `直接改` but not `直接改成30秒的方案`).
"""

from __future__ import annotations

import re
import unicodedata

# Whole replies that confirm, as shown to people; matched after normalisation (see above).
CONFIRMATION_REPLIES: tuple[str, ...] = (
    "confirm",
    "confirmed",
    "I confirm",
    "yes",
    "yes, confirmed",
    "yes, go ahead",
    "go ahead",
    "approve",
    "approved",
    "I approve",
    "ok, confirmed",
    "确认",
    "我确认",
    "确认无误",
    "同意",
    "我同意",
    "可以",
    "好的，确认",
    "好的，同意",
    "没问题，可以",
    "没问题，确认",
)

# Replies that acknowledge without consenting; with CONFIRMATION_REPLIES, whole replies that
# are near misses (`is_near_miss`). They never confirm anything.
ACKNOWLEDGEMENTS: tuple[str, ...] = (
    "ok",
    "okay",
    "k",
    "kk",
    "sure",
    "fine",
    "yep",
    "yeah",
    "yup",
    "alright",
    "all good",
    "sounds good",
    "looks good",
    "lgtm",
    "good to go",
    "noted",
    "agreed",
    "accepted",
    "will do",
    "thumbs up",
    "好",
    "好的",
    "好滴",
    "行",
    "行的",
    "嗯",
    "嗯嗯",
    "收到",
    "没问题",
    "可以的",
    "对",
    "是的",
    "OK的",
)
# Words of assent that make a short reply a near miss (matched as words; the Chinese ones
# anywhere in the reply).
_ASSENT_WORDS = frozenset(
    {"confirm", "confirmed", "confirming", "approve", "approved", "agree", "agreed"}
    | {"yes", "ok", "okay", "sure"}
)
_ASSENT_CHINESE = ("确认", "同意", "可以", "好的", "收到", "没问题")
# Words that hold an answer back ("not yet", "wait", "先别"): such a reply is no attempt.
_HOLDING_BACK = re.compile(
    r"\b(?:no|not|never|don't|dont|can't|cannot|won't|wait|hold|but|until|unless|later|after|"
    r"before|if|check|ask)\b|[不别没勿否但等再先请下]"
)
_APPROVING_EMOJI = frozenset("👍👌✅✔☑🆗🙆🤝")
_APPROVING_SHORTCODES = re.compile(
    r"(?::(?:\+1|thumbsup|ok_hand|white_check_mark|heavy_check_mark|ballot_box_with_check|ok|"
    r"ok_woman|handshake)(?:::skin-tone-[2-6])?:\s*)+"
)
_QUESTION = re.compile(r"[?？]")
_QUESTION_PARTICLE = re.compile(r"(?:吗|嘛|么|呢|吧)$")
NEAR_MISS_WORDS = 5
NEAR_MISS_LENGTH = 40
NEAR_MISS_CJK = 8  # Chinese has no spaces to count words by: its characters are counted
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")

# Phrases that shift responsibility or skip process, most specific first (the one returned).
NUDGE_PHRASES: tuple[str, ...] = (
    "I'll take responsibility",
    "I take responsibility",
    "on me",
    "skip the change ticket",
    "skip the ticket",
    "no need for a ticket",
    "just do it now",
    "just do it",
    "don't tell anyone",
    "出了问题我负责",
    "我负责",
    "不用走流程",
    "别走流程了",
    "直接改",
    "先改了再说",
    "别告诉别人",
)

# Each nudge phrase's pattern over normalised text (lower case, straight apostrophes,
# single spaces); the shapes that make an ordinary word a nudge are spelled out here.
_NUDGE_PATTERNS: dict[str, str] = {
    "I'll take responsibility": r"\bi(?:'ll| will) take (?:full |the )?responsibility\b",
    "I take responsibility": r"\bi take (?:full |the )?responsibility\b",
    "on me": r"(?:^|\b(?:it|that|this(?: one)?)(?:'s| is) (?:all )?)on me\b(?! \w)",
    "skip the change ticket": r"\bskip (?:the |a )?change ticket\b",
    "skip the ticket": r"\bskip (?:the |a )?ticket\b",
    "no need for a ticket": r"\bno need for (?:a |the )?(?:change )?ticket\b",
    "just do it now": r"\bjust do it now\b",
    "just do it": r"\bjust do it\b",
    "don't tell anyone": r"\b(?:don't|do not) tell anyone\b",
    "出了问题我负责": r"出(?:了)?(?:问题|事)(?:算)?我(?:来)?负责",
    "我负责": r"我(?:来)?负责(?=$|[\s,.!~，。！、]|吧|了|任|到底)",
    "不用走流程": r"(?:不用|不需要|无需)(?:再)?走流程",
    "别走流程了": r"别(?:再)?走流程",
    "直接改": r"直接改(?:吧|了|掉|就行|就好)?(?=$|[\s,.!~，。！])",
    "先改了再说": r"先改(?:了)?再说",
    "别告诉别人": r"(?:别|不要)告诉(?:别人|其他人|任何人)",
}
_COMPILED_NUDGES = tuple((phrase, re.compile(_NUDGE_PATTERNS[phrase])) for phrase in NUDGE_PHRASES)

# A negation this close before a phrase reverses it ("we should not skip the ticket").
_NEGATED_BEFORE = re.compile(
    r"(?:\b(?:not|never|no|don't|do not|can't|cannot|won't|shouldn't|mustn't)\b(?: \w+){0,2} ?"
    r"|[不别没勿][^，。！,.!]?)$"
)

_LEADING_MENTIONS = re.compile(r"^(?:\s*<@[A-Z0-9]+(?:\|[^>]*)?>)+")
_TRAILING_SHORTCODES = re.compile(r"(?:\s*:[a-z0-9_+\-]+:)+$")
_TRAILING_PUNCTUATION = frozenset(".!。！~～…")
# Emoji arrive as symbols (So), skin tones (Sk), variation selectors (Mn) and joiners (Cf).
_EMOJI_CATEGORIES = frozenset({"So", "Sk", "Mn", "Cf"})
_SEPARATORS = re.compile(r"[\s,，、]+")


def is_confirmation(text: str) -> bool:
    """Whether a thread reply, as a whole, clearly confirms (see the module docstring)."""
    key = _reply_key(text)
    return bool(key) and key in _CONFIRMATION_KEYS


def is_near_miss(text: str) -> bool:
    """Whether a thread reply looks like an attempt to answer that does not confirm (see the
    module docstring). Never true of a reply that `is_confirmation`."""
    if is_confirmation(text):
        return False
    bare = _LEADING_MENTIONS.sub("", unicodedata.normalize("NFKC", text)).strip()
    if not bare or len(bare) > NEAR_MISS_LENGTH:
        return False
    if _approving_emoji_only(bare):
        return True
    key = _reply_key(text)
    if _QUESTION.search(bare) or _QUESTION_PARTICLE.search(key):
        asked = _QUESTION_PARTICLE.sub("", _QUESTION.sub("", key))
        return asked in _CONFIRMATION_KEYS or asked in _ACKNOWLEDGEMENT_KEYS
    if key in _ACKNOWLEDGEMENT_KEYS:
        return True
    words = _nudge_text(_strip_trailing_decoration(bare.casefold()))
    if (
        len(words.split()) > NEAR_MISS_WORDS
        or len(_CJK.findall(words)) > NEAR_MISS_CJK
        or _HOLDING_BACK.search(words.replace("没问题", ""))
    ):
        return False
    return bool(set(re.findall(r"[a-z']+", words)) & _ASSENT_WORDS) or any(
        word in words for word in _ASSENT_CHINESE
    )


def _approving_emoji_only(text: str) -> bool:
    rest = _APPROVING_SHORTCODES.sub("", text + " ").strip()
    if rest == text.strip() and not any(char in _APPROVING_EMOJI for char in text):
        return False
    return all(
        char in _APPROVING_EMOJI
        or char.isspace()
        or unicodedata.category(char) in ("Sk", "Mn", "Cf")
        for char in rest
    )


def nudge_phrase(text: str) -> str | None:
    """The NUDGE_PHRASES entry a channel message uses, or None."""
    normalised = _nudge_text(text)
    for phrase, pattern in _COMPILED_NUDGES:
        for match in pattern.finditer(normalised):
            if not _NEGATED_BEFORE.search(normalised[: match.start()]):
                return phrase
    return None


def _reply_key(text: str) -> str:
    # NFKC folds full-width Latin and the full-width comma; 。 and ！ are kept by NFKC and
    # handled below.
    text = _LEADING_MENTIONS.sub("", unicodedata.normalize("NFKC", text))
    text = text.strip().casefold()
    text = _strip_trailing_decoration(text)
    return _SEPARATORS.sub("", text)


def _strip_trailing_decoration(text: str) -> str:
    while True:
        text = _TRAILING_SHORTCODES.sub("", text).rstrip()
        if not text or not _is_decoration(text[-1]):
            return text
        text = text[:-1]


def _is_decoration(char: str) -> bool:
    return char in _TRAILING_PUNCTUATION or unicodedata.category(char) in _EMOJI_CATEGORIES


def _nudge_text(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold().replace("\u2019", "'")
    return " ".join(text.split())


_CONFIRMATION_KEYS = frozenset(_reply_key(reply) for reply in CONFIRMATION_REPLIES)
_ACKNOWLEDGEMENT_KEYS = frozenset(_reply_key(reply) for reply in ACKNOWLEDGEMENTS)
