"""Heuristic prompt-injection scanner: six weighted pattern families over normalised text.

It is the prefilter and the fallback for the ML classifier, so it favours precision on benign
texts that merely talk about security ("how do I ignore case in grep?"). Every pattern uses bounded
gaps between disjoint character classes, so matching stays linear on 64 KiB adversarial inputs.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

from llm_shield.models.encoded import decode_run
from llm_shield.streams.heuristics.evidence import noisy_or
from llm_shield.streams.heuristics.matcher import PatternSet, shared_pattern_set
from llm_shield.streams.heuristics.normalize import (
    has_zero_width,
    mixed_script_words,
    normalize,
    respell,
    views,
)
from llm_shield.streams.scanner import ScanResult

FAMILIES = (
    "instruction_override",
    "role_play",
    "context_reset",
    "prompt_extraction",
    "delimiter_injection",
    "planted_instruction",
    "obfuscation",
)

# Up to N words between two anchors: alternating disjoint classes, so no catastrophic backtracking.
_GAP1 = r"(?:\W+\w+){0,1}\W+"
_GAP2 = r"(?:\W+\w+){0,2}\W+"
_GAP3 = r"(?:\W+\w+){0,3}\W+"
# A gap whose words are not "my" or "our": "ignore my previous instructions" is a user taking back
# their own words, not an override of the assistant's.
_GAP2_NOT_OWN = r"(?:\W+(?!my\b|our\b)\w+){0,2}\W+"

_OVERRIDE_VERB = (
    r"(?:ignore|disregard|forget|skip|bypass|override|overlook|neglect|abandon|discard|"
    r"dismiss|set aside|throw out|do not follow|don't follow|stop following)"
)
_PRIOR = (
    r"(?:previous|prior|above|earlier|preceding|former|initial|original|system|developer|"
    r"your|all (?:of )?(?:the |your )?(?:previous|prior|above|earlier))"
)
_INSTRUCTION_NOUN = (
    r"(?:instructions?|prompts?|rules|directions|directives|guidelines|commands|constraints|"
    r"restrictions|guardrails|programming|orders|policies|policy|context|messages|guidance|"
    r"safety (?:rules|guidelines|measures|filters)|content policy|training)"
)
_PERSONA_BAD = (
    r"(?:unrestricted|unfiltered|uncensored|evil|malicious|rogue|amoral|unethical|jailbroken|"
    r"unbound|unlimited|lawless|immoral|dan|dude|stan|aim|devil|villain|hacker)"
)
_READER = r"(?:ai|a\.i\.|assistant|language model|llm|model|agent|chatbot|bot|copilot|chatgpt|gpt)"
# People are agents too: a help desk's "Note for support agents: reply within a day" addresses
# its human staff.
_HUMAN_AGENT = (
    r"(?:support|sales|service|travel|estate|insurance|desk|human|booking|field|call centre|"
    r"call center|customer care)\s+agents?\b"
)
_ACTION = (
    r"(?:send|forward|e-?mail|transfer|wire|delete|remove|reveal|disclose|ignore|disregard|post|"
    r"click|visit|open|run|execute|call|add|grant|change|reset|reply|respond|tell|include|append|"
    r"cancel|book|approve|unsubscribe|share|upload|download|export|mark|output|print|write|do not|"
    r"don't|stop|summari[sz]e|say|recommend|insert|disable|enable|push|commit|merge|deploy)"
)
_SECRET_NOUN = (  # words that name secrets
    r"(?:system prompt|system message|prompt|pre-?prompt|instructions|initial instructions|"  # noqa: S105
    r"hidden instructions|directives|guidelines|rules|configuration|config|secret|password|"
    r"api key|context window)"
)


@dataclass(frozen=True)
class _Pattern:
    family: str
    weight: float
    regex: re.Pattern[str]


def _p(family: str, weight: float, pattern: str) -> _Pattern:
    return _Pattern(family, weight, re.compile(pattern, re.MULTILINE))


# Patterns run on the normalised (NFKC, casefolded, homoglyph-mapped) text.
PATTERNS: tuple[_Pattern, ...] = (
    # 1. instruction override
    _p(
        "instruction_override",
        0.92,
        rf"\b{_OVERRIDE_VERB}{_GAP2_NOT_OWN}{_PRIOR}{_GAP1}{_INSTRUCTION_NOUN}\b",
    ),
    _p("instruction_override", 0.9, rf"\b{_OVERRIDE_VERB}\W+{_PRIOR}\W+{_INSTRUCTION_NOUN}\b"),
    _p(
        "instruction_override",
        0.6,
        rf"\b{_OVERRIDE_VERB}\W+(?:all|any|every|the|these|those)\W+{_INSTRUCTION_NOUN}\b",
    ),
    _p(
        "instruction_override",
        0.85,
        r"\b(?:new|updated|real|actual|true|revised|secret)\s+(?:system\s+)?"
        r"(?:instructions?|directives?|task|orders)\s*(?::|are\b|is\b|follow)",
    ),
    _p(
        "instruction_override",
        0.85,
        r"\byour (?:new|real|true|actual|only) (?:task|goal|purpose|job|instructions?|role|"
        r"objective) (?:is|are|now)\b",
    ),
    _p(
        "instruction_override",
        0.8,
        r"\b(?:no longer|not|never) (?:bound|restricted|limited|constrained|governed) by\b",
    ),
    _p(
        "instruction_override",
        0.85,
        rf"\b(?:override|bypass|disable|turn off|deactivate|circumvent|evade){_GAP2}"
        r"(?:safety|content|security|moderation|ethical|ethics)\W+"
        r"(?:filters?|protocols?|guidelines|checks|settings|restrictions|measures|policy|mode)\b",
    ),
    _p(
        "instruction_override",
        0.7,
        r"\binstead(?:,| of)?\s+(?:you (?:will|must|should|shall)|just)\s+(?:say|print|output|"
        r"respond|reply|write|answer|tell)\b",
    ),
    _p(
        "instruction_override",
        0.75,
        r"\b(?:ignore|disregard|forget|skip) (?:that|this|it|the above|all that)\W+(?:and\W+)?"
        r"(?:instead\W+)?(?:just\W+)?(?:say|print|output|write|respond|reply|tell)\b",
    ),
    # 2. role play / persona switch
    _p("role_play", 0.65, r"\byou are now\b|\byou're now\b|\bfrom now on,? you\b"),
    _p(
        "role_play",
        0.9,
        rf"\b(?:you are|you're|act as|acting as|become|behave as|respond as|answer as|"
        rf"pretend to be|pretend you are|roleplay as|role-play as|play the role of)"
        rf"(?: if you were| an?| the| my)?\W+(?:\w+\W+){{0,2}}{_PERSONA_BAD}\b",
    ),
    # A mode or a jailbreak merely named ("what is developer mode on Android?") weighs less
    # than one switched on or addressed to the model.
    _p(
        "role_play",
        0.45,
        r"\b(?:developer|dev|god|debug|admin|unrestricted|jailbreak|dan|sudo|maintenance) mode\b"
        r"|\bjailbr(?:eak|oken|eaking)\b",
    ),
    _p(
        "role_play",
        0.9,
        r"\b(?:enter|enable|activate|switch to|switching to|turn on|you are in|you're in|now in|"
        r"go into|put yourself in)\W+(?:\w+\W+){0,1}?(?:developer|dev|god|debug|admin|unrestricted|"
        r"jailbreak|dan|sudo|maintenance) mode\b"
        r"|\b(?:developer|dev|god|debug|admin|unrestricted|jailbreak|dan|sudo|maintenance) mode"
        r"\W+(?:is\W+)?(?:now\W+)?(?:enabled|activated|engaged|unlocked|on(?=\W*$|\W*[.!,;]))"
        r"|\b(?:you are|you're|you have been|as an?|act as an?)\W+(?:\w+\W+){0,1}?"
        r"jailbr(?:oken|eak)\b",
    ),
    _p("role_play", 0.9, r"\bdo anything now\b"),
    # The dead-grandmother exploit: the model is asked to play a late relative who "used to
    # read me" what it would refuse to give (product keys, napalm). A grieving user asking the
    # model to play a grandmother names no such thing, so the payload words are required.
    _p(
        "role_play",
        0.85,
        r"\b(?:pretend|act|acting|play|role-?play|be|imagine)\b(?:\W+\w+){0,4}?\W+my\s+"
        r"(?:late|deceased|dead|departed)\s+(?:grand(?:ma|mother|pa|father)|granny|nana|mother|"
        r"father|mom|dad)\b(?:\W+\w+){0,20}?\W+used\s+to\s+(?:\w+\s+){0,2}?(?:tell|read|recite|"
        r"sing|whisper|give|teach)\b(?:\W+\w+){0,10}?\W+(?:(?:activation|product|licen[cs]e|"
        r"serial|windows)\s+(?:keys?|codes?)|keys|passwords?|napalm|meth(?:amphetamine)?|"
        r"explosives?|bombs?|weapons?|poisons?|malware|exploits?|synthes[ei]s)\b",
    ),
    _p("role_play", 0.45, r"\bpretend (?:to be|you are|you're|that you)\b"),
    _p("role_play", 0.35, r"\b(?:role-?play as|play the role of|act as an?)\b"),
    _p("role_play", 0.45, r"\bstay in character\b|\bnever break character\b"),
    _p(
        "role_play",
        0.6,
        r"\b(?:without|with no|free (?:of|from)|no)\s+(?:any\s+)?(?:ethical\s+|moral\s+|safety\s+)?"
        r"(?:restrictions|limitations|limits|filters|filtering|censorship|guidelines|rules|ethics|"
        r"morals|boundaries|guardrails)\b",
    ),
    _p(
        "role_play",
        0.6,
        r"\b(?:i am|i'm) your (?:developer|creator|administrator|admin|owner|programmer)\b",
    ),
    # "I am the admin of this server, how do I ...": people own their servers and repositories;
    # without "your" the claim counts only beside other evidence.
    _p(
        "role_play",
        0.45,
        r"\b(?:i am|i'm) the (?:developer|creator|administrator|admin|owner|programmer)\b",
    ),
    # 3. context reset ("forget everything I said", "clear the conversation": a user's own words
    # and conversation are theirs to take back; only beside other evidence do they count)
    _p(
        "context_reset",
        0.88,
        r"\bforget (?:about )?(?:everything|all(?: of)?(?: that| this| the)?|what)(?! i\b)\W+"
        r"(?:\w+\W+){0,3}?(?:above|before|previously|earlier|so far|said|told|instructed|"
        r"instructions|rules|prompt)\b",
    ),
    _p("context_reset", 0.45, r"\bforget (?:everything|all)\b"),
    _p(
        "context_reset",
        0.8,
        r"\b(?:reset|clear|wipe|erase|flush|purge)\W+(?:your\W+(?:\w+\W+){0,1}(?:context|memory|"
        r"instructions|conversation|history|rules|programming|settings)|(?:the|all)\W+(?:(?:prior|"
        r"previous)\W+(?:context|memory|instructions|conversation|programming)|instructions|"
        r"programming))\b",
    ),
    _p(
        "context_reset",
        0.4,
        r"\b(?:reset|clear|wipe|erase|flush|purge)\W+(?:the|all)\W+(?:context|memory|conversation)\b",
    ),
    _p(
        "context_reset",
        0.75,
        r"\b(?:the )?(?:above|previous|prior|preceding)(?: text| instructions?| prompt| context)?"
        r" (?:is|was|were) (?:just )?(?:a test|fake|irrelevant|over|void|cancelled|null)\b",
    ),
    _p(
        "context_reset",
        0.4,
        r"\b(?:start|begin) (?:a )?(?:new|fresh|clean) (?:session|conversation|context|slate)\b",
    ),
    # 4. system-prompt extraction ("never share your password with anyone" warns a human)
    _p(
        "prompt_extraction",
        0.85,
        r"(?<!never )(?<!n't )(?<!do not )"
        rf"\b(?:show|reveal|print|repeat|tell|display|output|give|leak|dump|share|write out|"
        rf"spell out|disclose|expose|recite|list|paste|echo|what (?:is|are|were))\W+(?:me\W+)?"
        rf"(?:all\W+)?(?:of\W+)?your\W+(?:\w+\W+){{0,2}}?{_SECRET_NOUN}\b"
        r"(?!\s+(?:for|about|on|regarding|when|if|in)\b)",
    ),
    _p(
        "prompt_extraction",
        0.85,
        r"\b(?:show|reveal|print|repeat|tell|display|output|give|leak|dump|share|disclose|"
        r"expose|recite|paste|echo)\W+(?:me\W+)?(?:\w+\W+){0,2}?the\W+(?:(?:system|hidden|secret|"
        r"developer|confidential)\W+(?:\w+\W+){0,1}?(?:prompt|instructions|message|rules|"
        r"directives)|(?:initial|original|full|exact)\W+(?:\w+\W+){0,1}?(?:prompt|instructions|"
        r"rules|directives))\b",
    ),
    _p(
        "prompt_extraction",
        0.8,
        r"\b(?:repeat|print|output|copy|recite|echo)\W+(?:back\W+)?(?:everything|all|it|this|"
        r"what|the (?:text|words|message|messages|instructions|prompt|conversation|lines))\W+"
        r"(?:\w+\W+){0,2}?(?:above|before this|preceding|verbatim)\b",
    ),
    _p(
        "prompt_extraction",
        0.75,
        r"\bwhat (?:were|are|have) you (?:been )?(?:told|instructed|programmed|prompted)\b",
    ),
    _p(
        "prompt_extraction",
        0.7,
        r"\b(?:beginning|start|top) of (?:this|the|your) (?:conversation|prompt|context|chat)\b",
    ),
    # 5. delimiter / format injection
    _p(
        "delimiter_injection",
        0.85,
        r"<\|?\s*(?:im_start|im_end|system|endoftext|eot_id|start_header_id|end_header_id)\s*\|?>"
        r"|\[/?inst\]|<<\s*/?sys\s*>>|</?\s*(?:system|sys|instructions?)\s*>|\[(?:system|admin)\]",
    ),
    _p(
        "delimiter_injection",
        0.7,
        r"^\W{0,4}(?:system|developer|admin)\s*(?:prompt|message|override|note)?\s*:",
    ),
    _p(
        "delimiter_injection",
        0.75,
        r"(?<!#)#{2,}\s*(?:(?:system|new instructions?|instructions?|override)\b|"
        r"(?:admin|developer)(?:\s+(?:mode|message|prompt|note|override))?\s*:)",
    ),
    _p(
        "delimiter_injection",
        0.7,
        r"(?:```|---|===|\*\*\*|~~~)\W{0,8}(?:(?:\w+\W+){0,6}?new instructions|(?:\w+\W+){0,1}?"
        r"(?:system|ignore|override|disregard))\b",
    ),
    _p(
        "delimiter_injection",
        0.45,
        r"\bend of (?:the )?(?:user |system )?(?:input|prompt|instructions|context|document|"
        r"conversation)\b",
    ),
    _p("delimiter_injection", 0.35, r"^\W{0,4}(?:assistant|ai|bot)\s*:"),
    # 6. instructions planted in a document for the model that reads it (tool output, e-mail,
    # web page): the text addresses its machine reader and tells it to act.
    _p(
        "planted_instruction",
        0.45,
        rf"\b(?:note|message|notice|instructions?|attention|reminder|directive|warning)\s+"
        rf"(?:to|for)\s+(?:the\s+|any\s+|all\s+|every\s+)?(?:\w+\s+)?{_READER}s?\b"
        rf"|\bif you are an?\s+(?:\w+\s+)?{_READER}\b"
        rf"|\b{_READER}s?\s+(?:that (?:is|are)\s+)?(?:reading|processing|summari[sz]ing|parsing|"
        rf"seeing)\s+(?:this|these)\b",
    ),
    _p(
        "planted_instruction",
        0.85,
        rf"(?:\b(?:note|message|notice|instructions?|attention|reminder|directive|important|"
        rf"p\.?s\.?)\s+(?:to|for)\s+(?:the\s+|any\s+|all\s+|every\s+)?(?!(?:\w+\s+)?"
        rf"{_HUMAN_AGENT})(?:\w+\s+){{0,2}}{_READER}s?"
        rf"|\bif you are an?\s+(?:\w+\s+)?{_READER}(?:\s+reading this)?"
        rf"|^\W{{0,4}}(?:dear\s+|hey\s+|hi\s+)?{_READER}s?(?:\s+\w+){{0,2}}\s*[:,]"
        rf"|\b{_READER}s?\s+(?:that (?:is|are)\s+)?(?:reading|processing|summari[sz]ing|"
        rf"parsing)\s+(?:this|these)\s+\w+)"
        rf"\W+(?:\w+\W+){{0,6}}?(?:you\s+(?:must|should|need to|have to|are to)\s+)?{_ACTION}\b",
    ),
    _p(
        "planted_instruction",
        0.85,
        r"\bthis is an important message from\b"
        r"|\bbefore you (?:can )?(?:solve|do|complete|answer|continue with) the task\b",
    ),
    # Secrecy towards the user is a tell in a planted instruction, and ordinary in software
    # documentation ("saves the file without asking the user"): supporting evidence only.
    _p(
        "planted_instruction",
        0.45,
        r"\b(?:do not|don't|never) (?:tell|inform|alert|mention (?:this|it) to|notify) the user\b"
        r"|\bwithout (?:telling|informing|asking|notifying|alerting) the user\b",
    ),
    # Spanish, German and French: override, extraction and unrestricted-mode requests.
    _p(
        "instruction_override",
        0.9,
        r"\b(?:ignora|ignore[sz]?|olvida|oublie[sz]?|ignoriere|vergiss|missachte|descarta|"
        r"desconsidera|omite)\W+(?:(?!my\b|our\b|mes\b|mis\b|meine\b)\w+\W+){0,3}?"
        r"(?:instrucciones|indicaciones|reglas|normas|"
        r"directrices|instructions|consignes|règles|directives|anweisungen|regeln|vorgaben|"
        r"richtlinien)\b",
    ),
    _p(
        "prompt_extraction",
        0.85,
        r"\b(?:muestra|muéstrame|revela|repite|dime|enséñame|affiche|montre|révèle|répète|"
        r"donne-moi|zeige|zeig|verrate|wiederhole|nenne)\W+(?:\w+\W+){0,3}?(?:prompt|system-?prompt|"
        r"instrucciones (?:ocultas|secretas|del sistema)|mensaje del sistema|instructions cachées|"
        r"message système|systemnachricht|systemprompt|versteckten anweisungen|"
        r"geheimen (?:regeln|anweisungen)|règles secrètes|reglas secretas)\b",
    ),
    _p(
        "role_play",
        0.75,
        r"\b(?:modo (?:desarrollador|dios|sin restricciones)|entwicklermodus|"
        r"mode (?:développeur|sans restriction)|sin (?:ninguna )?(?:restricci[oó]n|restricciones|"
        r"filtros?|censura)|ohne (?:jede |jegliche )?(?:einschränkungen?|filter|zensur)|"
        r"sans (?:aucune )?(?:restrictions?|filtres?|censure)|non censuré|unzensiert|"
        r"sin censura)\b",
    ),
)

_TRIGGER_WORDS = re.compile(
    r"ignore|disregard|instruction|system|prompt|jailbreak|forget|reveal|override|bypass|"
    r"password|secret|pretend|restriction"
)
_BASE64_RUN = re.compile(r"[a-z0-9+/]{24,}={0,2}", re.IGNORECASE)
# Character references ("&#73;&#103;&#110;..." is "Ign..."): a whole attack written as HTML
# entities is one unreadable word to the patterns (a tuning attack was missed that way).
_CHAR_REFERENCE = re.compile(r"&#(?:\d{2,7}|x[0-9a-f]{2,6});", re.IGNORECASE)
_DECODE_REQUEST = re.compile(
    r"\b(?:decode|decipher|translate|convert)\b(?:\W+\w+){0,4}\W+(?:base64|rot13|hex|binary|"
    r"morse|reversed?)\b"
)


# "How do I enable developer mode on my phone?" asks about a device's feature: a how-to question
# whose only evidence is a named mode stays below the threshold.
_HOW_TO = re.compile(r"^\W*(?:how|where|what|why|can|is|does)\b[^.!?]{0,120}\?\W*$")
_MODE_ONLY = re.compile(r"\bmode\b")


# A trigger phrase quoted as an example ("attackers hide phrases like 'ignore previous
# instructions' in web pages") is mentioned, not used: a match that lies inside such a quote
# counts only beside other evidence. The quote must follow a word that introduces an example.
_MENTION = re.compile(
    r"\b(?:like|such as|e\.g\.|for example|for instance|phrases?|strings?|the words?|"
    r"called|named)\W{0,3}?[\"'‘“«]([^\"'’”»\n]{4,200})[\"'’”»]"
)
_MENTION_WEIGHT = 0.45


def _mentions(text: str) -> list[tuple[int, int]]:
    if not any(quote in text for quote in "\"'‘“«"):
        return []
    return [match.span(1) for match in _MENTION.finditer(text)]


def _mentioned(match: re.Match[str], mentions: list[tuple[int, int]]) -> bool:
    start, end = match.span()
    return any(begin <= start and end <= stop for begin, stop in mentions)


def _only_mentioned(
    regex: re.Pattern[str], first: re.Match[str], text: str, mentions: list[tuple[int, int]]
) -> bool:
    """Every match lies inside a quoted example: used as well as mentioned ("... like 'ignore
    X'. Now ignore X") counts in full."""
    if not mentions or not _mentioned(first, mentions):
        return False
    return all(_mentioned(other, mentions) for other in regex.finditer(text, first.end()))


def _family_scores(text: str, matcher: PatternSet) -> dict[str, float]:
    scores: dict[str, float] = {}
    mentions: list[tuple[int, int]] | None = None
    for index in matcher.candidates(text):  # in pattern order, as if every pattern were tried
        pattern = PATTERNS[index]
        if pattern.weight <= scores.get(pattern.family, 0.0):
            continue
        match = pattern.regex.search(text)
        if not match:
            continue
        weight = pattern.weight
        if weight > _MENTION_WEIGHT:
            if mentions is None:  # found once a text, and only where a strong pattern matched
                mentions = _mentions(text)
            if _only_mentioned(pattern.regex, match, text, mentions):
                weight = _MENTION_WEIGHT
        scores[pattern.family] = max(weight, scores.get(pattern.family, 0.0))
    if set(scores) == {"role_play"} and _HOW_TO.match(text) and _MODE_ONLY.search(text):
        scores["role_play"] = min(scores["role_play"], 0.45)
    return scores


def _decoded_base64(original: str) -> list[str]:
    """Printable payloads hidden in base64-looking runs (at most a few, to stay cheap); decoded
    as the model's view decodes them (``models.encoded``)."""
    found: list[str] = []
    for match in _BASE64_RUN.finditer(original):
        run = match.group(0)
        if not (re.search(r"[A-Z]", run) and re.search(r"[a-z]", run)):
            continue  # long lower-case words or hex digests are not base64 payloads
        text = decode_run(run)
        if text and " " in text:
            found.append(text)
        if len(found) >= 4:
            break
    return found


class HeuristicPromptInjection:
    """Batch-first heuristic scanner; ``matched`` lists the families that fired."""

    name = "prompt_injection"
    positive_label = "INJECTION"
    negative_label = "SAFE"

    def __init__(self, *, threshold: float = 0.5, engine: str = "auto") -> None:
        """``engine``: how the patterns are matched (see ``matcher.PatternSet``); the results
        are the same whichever it is."""
        self.threshold = threshold
        self.matcher = shared_pattern_set(tuple(p.regex for p in PATTERNS), engine)

    def scan(self, text: str) -> ScanResult:
        seen = views(text)
        normalized = seen.normalized
        scores = _family_scores(normalized, self.matcher)

        obfuscation = 0.0
        hidden_views: list[str] = []
        if seen.spaced_words:
            hidden_views.append(seen.despaced)
        if seen.leet_words:
            hidden_views.append(seen.deleeted)
        respelled, typos = respell(seen.deleeted)
        for payload in _decoded_base64(text):
            hidden_views.append(normalize(payload))
            obfuscation = max(obfuscation, 0.45)
        if "&#" in text and _CHAR_REFERENCE.search(text):
            hidden_views.append(normalize(html.unescape(text)))
        if mixed_script_words(text):
            obfuscation = max(obfuscation, 0.55)
        if has_zero_width(text) and _TRIGGER_WORDS.search(normalized):
            obfuscation = max(obfuscation, 0.5)
        if _DECODE_REQUEST.search(normalized):
            obfuscation = max(obfuscation, 0.4)
        visible_triggers = bool(_TRIGGER_WORDS.search(normalized))
        for view in hidden_views:
            hidden = _family_scores(view, self.matcher)
            new_families = {f: s for f, s in hidden.items() if s > scores.get(f, 0.0)}
            # Something only visible after de-obfuscation is itself a signal.
            if new_families:
                obfuscation = max(obfuscation, 0.6)
            elif not visible_triggers and _TRIGGER_WORDS.search(view):
                obfuscation = max(obfuscation, 0.45)
            scores.update(new_families)
        if typos:  # a misspelled attack counts as the attack, not as obfuscation
            for family, value in _family_scores(respelled, self.matcher).items():
                scores[family] = max(scores.get(family, 0.0), value)
        if obfuscation:
            scores["obfuscation"] = max(scores.get("obfuscation", 0.0), obfuscation)

        score = noisy_or(scores.values())
        matched = tuple(f for f in FAMILIES if f in scores)
        return ScanResult(
            score=score,
            label=self.positive_label if score >= self.threshold else self.negative_label,
            risk=score,
            method="heuristic",
            matched=matched,
        )

    def scan_batch(self, texts: Sequence[str]) -> list[ScanResult]:
        return [self.scan(text) for text in texts]
