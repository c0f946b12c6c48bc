"""Heuristic toxicity scanner: six categories (the Jigsaw taxonomy) from weighted word lists.

Words aimed at "you" weigh more than words merely mentioned, so "what does idiot mean?" stays below
the default threshold while "you are an idiot" does not. Words inside quotation marks that a
sentence around them reports ("a user told my daughter 'I know where you live'. How do I report
this?") weigh half: reported abuse is not abuse, and such reports were most of the pattern's false
alarms on the tuning sets. Masked spellings ("f*ck", "sh1t") are matched through the same
normalisation the injection scanner uses.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import islice

from llm_shield.streams.heuristics.evidence import noisy_or
from llm_shield.streams.heuristics.matcher import shared_pattern_set
from llm_shield.streams.heuristics.normalize import views
from llm_shield.streams.scanner import ScanResult

CATEGORIES = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")


@dataclass(frozen=True)
class _Rule:
    category: str
    weight: float
    regex: re.Pattern[str]
    strong: bool = False
    # Each different word counts, a repeated one once: a manual that says "garbage collection"
    # twice is not two insults (benign training documents reached 0.70-0.83 that way).
    distinct: bool = False


# Quotation marks: straight ones open after a non-word character and close before one (so the
# apostrophes of "won't" and "defendant's" are neither); curly and angle quotes are unambiguous.
_QUOTE_MARKS = re.compile("['\"\u201c\u201d\u2018\u2019\u00ab\u00bb]")
_CLOSER = {"'": "'", '"': '"', "\u201c": "\u201d", "\u2018": "\u2019", "\u00ab": "\u00bb"}
QUOTED_WEIGHT = 0.5  # what a reported word weighs against the same word said
REPORTING_WORDS = 3  # words outside the quotes that make them a report, not the message itself
MAX_QUOTE_MARKS = 64  # beyond it no text is read as quoted: the scan stays linear and cheap
_WORD = re.compile(r"\w+")


def quoted_spans(text: str) -> list[tuple[int, int]]:
    """The quoted stretches of ``text`` (start and end offsets, marks included), but only where
    at least ``REPORTING_WORDS`` words stand outside them: a text that is all quotation is the
    message itself, not a report of it."""
    marks = [m.start() for m in islice(_QUOTE_MARKS.finditer(text), MAX_QUOTE_MARKS + 1)]
    if len(marks) < 2 or len(marks) > MAX_QUOTE_MARKS:
        return []
    spans: list[tuple[int, int]] = []
    opened: int | None = None
    for i in marks:
        mark = text[i]
        before = text[i - 1] if i else " "
        after = text[i + 1] if i + 1 < len(text) else " "
        if opened is not None:
            closes = _CLOSER[text[opened]] == mark and not before.isspace()
            if closes and (mark not in "'\"" or not (after.isalnum() or after == "_")):
                spans.append((opened, i + 1))
                opened = None
            continue
        if mark in _CLOSER and not after.isspace() and not (before.isalnum() or before == "_"):
            opened = i
    if not spans:
        return []
    outside, last = [], 0
    for start, end in spans:
        outside.append(text[last:start])
        last = end
    outside.append(text[last:])
    if len(_WORD.findall(" ".join(outside))) < REPORTING_WORDS:
        return []
    return spans


def _words(*words: str) -> str:
    return r"\b(?:" + "|".join(words) + r")\b"


def _r(
    category: str, weight: float, pattern: str, *, strong: bool = False, distinct: bool = False
) -> _Rule:
    return _Rule(category, weight, re.compile(pattern), strong, distinct)


_OBSCENE_STRONG = _words(
    r"f+u+c+k+\w*",
    r"f[*#@]+c?k\w*",
    r"f[*#@]+\w*k",
    r"motherf\w*",
    r"sh[i*]+t\w*",
    r"bullshit",
    r"cunts?",
    r"cocksucker\w*",
    r"dickheads?",
    r"b[i*]+tch\w*",
    r"assholes?",
    r"arseholes?",
    r"bastards?",
    r"sluts?",
    r"whores?",
    r"wank\w*",
    r"twats?",
    r"pussy",
    r"dipshit",
    r"jackass",
    r"dumbass",
    r"goddamn\w*",
    r"piss off",
)
# "pissed" (angry, or drunk) says how the writer feels, not what they think of the reader: "I'm
# so pissed off at this airline" was the word list's one false alarm in a probe of everyday texts.
_OBSCENE_WEAK = _words(
    "crap", "crappy", "damn", "dick", "cock", "ass", "arse", "piss", "pissed", "screw"
)
_INSULT_NOUNS = (
    r"idiots?",
    r"idiotic",
    r"stupid",
    r"morons?",
    r"moronic",
    r"dumb",
    r"imbeciles?",
    r"cretins?",
    r"losers?",
    r"pathetic",
    r"worthless",
    r"useless",
    r"incompetent",
    r"retard(?:ed|s)?",
    r"dimwits?",
    r"halfwits?",
    r"nitwits?",
    r"clowns?",
    r"jerks?",
    r"scum",
    r"trash",
    r"garbage",
    r"ugly",
    r"freaks?",
    r"creeps?",
    r"lowlifes?",
    r"disgusting",
    r"pigs?",
    r"parasites?",
    r"ignorant",
    r"brainless",
    r"clueless",
    r"dunces?",
    r"buffoons?",
    r"dolts?",
    r"oafs?",
    r"numbskulls?",
    r"nincompoops?",
    r"simpletons?",
    r"cowards?",
    r"talentless",
    r"spineless",
    r"fools?",
    r"fat",
    r"hypocrites?",
    r"liars?",
    r"sad little",
    r"waste of (?:space|oxygen|air)",
    r"piece of (?:shit|crap|garbage|trash|work)",
)
_INSULT_WORD = _words(*_INSULT_NOUNS)
_YOU = r"(?:you|u|ya|your|you're|youre|ur|you are|you r)"
_GROUPS = (
    # "whites" followed by what recipes say next is egg whites ("beat the whites to soft peaks")
    r"(?:muslims|jews|jewish people|blacks|black people|whites(?! (?:to|until|into)\b)|"
    r"white people|gays|gay people|"
    r"lesbians|homosexuals|trans people|transgender people|immigrants|migrants|refugees|mexicans|"
    r"arabs|asians|christians|hindus|women|females|africans|indians|chinese|latinos|gypsies|"
    r"foreigners)"
)
_SLURS = _words(
    r"nigg(?:er|a|ah|az|ers)\w*",
    r"faggots?",
    r"fags?",
    r"kikes?",
    r"spics?",
    r"chinks?",
    r"wetbacks?",
    r"trann(?:y|ies)",
    r"ragheads?",
    r"towelheads?",
    r"gooks?",
    r"beaners?",
    r"sand ?niggers?",
    r"pakis?",
    r"dykes?",
    r"coons?",
    r"shemales?",
)
_HARM_VERBS = (
    r"(?:kill|murder|hurt|shoot|stab|beat|strangle|destroy|hunt|burn|rape|bash|punch|slap|"
    r"choke|slit|gut|behead|bury|end|break)"
)

RULES: tuple[_Rule, ...] = (
    # obscene
    _r("obscene", 0.8, _OBSCENE_STRONG, strong=True),
    _r("obscene", 0.3, _OBSCENE_WEAK),
    # insult
    _r(
        "insult",
        0.88,
        rf"\b{_YOU}\W+(?:(?:are|r|such|a|an|so|the|one|total|complete|absolute|fucking|"
        rf"utter|little|big|stupid|dumb|just|really|nothing but)\W+){{0,4}}"
        rf"(?:{'|'.join(_INSULT_NOUNS)})\b",
    ),
    _r("insult", 0.45, _INSULT_WORD, distinct=True),
    _r("insult", 0.75, r"\b(?:you|u) (?:suck|stink|disgust me)\b|\bshut (?:up|your mouth)\b"),
    _r("insult", 0.6, r"\bnobody (?:likes|cares about|wants) you\b|\bget a life\b"),
    _r("insult", 0.85, r"\b(?:stupid|dumb|fat|ugly|worthless) (?:bitch|cunt|whore|slut|bastard)\b"),
    # threat
    _r(
        "threat",
        0.92,
        # no "not", "never" or "n't" between: "I'd prefer not to hurt your feelings"
        rf"\b(?:i|we|i'll|we'll|im|i'm)\W+(?:will|'ll|am going to|are going to|gonna|going to|"
        rf"shall|want to|wanna)?\W*(?:(?!(?:not|never|t)\b)\w+\W+){{0,4}}?{_HARM_VERBS}\W+(?:you|u|"
        rf"ya|your|him|her|them|your family|your kids)\b",
    ),
    _r(
        "threat",
        0.88,
        r"\b(?:you(?:'re| are| r) (?:dead|going to die|gonna die|a dead man)|watch your back|"
        r"i know where you live|(?:kill|hang|shoot) yourself|kys|you (?:will|'ll|are going to) "
        r"(?:pay(?=\s*(?:[.!]|$))|regret this|suffer|bleed)|deserve to die|"
        r"should (?:be )?(?:killed|shot|hanged))\b",
    ),
    _r(
        "threat",
        0.82,
        r"\b(?:hope|wish) (?:you|u|they|he|she) (?:die|dies|get cancer|burn|suffer|rot|get hit)\b"
        r"|\b(?:die|burn|rot) in (?:a fire|hell)\b",
    ),
    _r("threat", 0.8, rf"\b(?:{_HARM_VERBS}) (?:all )?(?:the |those |these )?{_GROUPS}\b"),
    # threats that name no harm: a consequence aimed at the reader or their family, knowing
    # where they live, being found (never "you'll pay at the door": only pay for this/it/that)
    _r(
        "threat",
        0.86,
        rf"\b(?:{_YOU}|your (?:family|kids|children|wife|husband|mother|mom|parents|friends))"
        r"(?:'ll| will| are going to| is going to| are gonna| gonna)\W+(?:\w+\W+){0,2}?"
        r"(?:pay for (?:this|it|that|what you (?:did|said))|pay dearly|be sorry|get hurt|"
        r"regret (?:this|it|that|the day|ever|being born|crossing|messing|talking|opening))\b",
    ),
    _r(
        "threat",
        0.86,
        r"\b(?:you|u)(?: will not| won't| wont|'re not going to| are not going to| ain't gonna)"
        r"\W+(?:survive|live (?:to see|through|long enough)|make it (?:out|home|through the "
        r"(?:night|week))|see (?:tomorrow|another day|the (?:morning|weekend)))\b",
    ),
    _r(
        "threat",
        0.86,
        r"\b(?:i|we) know (?:where you (?:live|work|sleep|park)|your (?:home )?"
        r"address|where your (?:kids|children|family) (?:live|are|go to school))\b",
    ),
    _r(
        "threat",
        0.86,
        r"\b(?:i|we)(?:'ll| will| am going to| are going to|'m going to|'re going to| gonna) "
        r"(?:find|hunt down|track down|come after) you(?=\s*(?:[.!;]|$))",
    ),
    _r(
        "threat",
        0.86,
        r"\b(?:sleep with one eye open|your days are numbered|sleep well while you can|"
        r"you(?:'re| are) (?:a )?dead meat|teach you a lesson(?! (?:on|about|in|of|for)\b)|"
        r"(?:i'll|i will|we'll|we will|gonna) make (?:sure )?you (?:pay|suffer|bleed|regret)|"
        r"put you (?:in the ground|six feet under|in (?:the|a) (?:hospital|grave|coffin)))\b",
    ),
    # identity hate
    _r("identity_hate", 0.9, _SLURS, strong=True),
    # ... unless it is a claim being named: "Saying that women are inferior is a stereotype."
    _r(
        "identity_hate",
        0.9,
        r"(?<!saying that )(?<!claim that )(?<!claiming that )(?<!idea that )(?<!myth that )"
        r"(?<!stereotype that )(?<!belief that )"
        rf"\b{_GROUPS} (?:are|r) (?:all |just |nothing but |a bunch of )?(?:animals|vermin|"
        r"subhuman|disgusting|trash|scum|rats|parasites|a disease|a plague|evil|inferior|savages|"
        r"terrorists|criminals|cockroaches|dogs|pigs|filth|apes|monkeys|stupid|worthless)\b",
    ),
    _r(
        "identity_hate",
        0.9,
        rf"\b(?:gas|deport|exterminate|kill|hang|ban|purge|wipe out|get rid of) (?:all )?"
        rf"(?:the |those |these )?{_GROUPS}\b",
    ),
    _r("identity_hate", 0.85, rf"\b(?:i )?(?:hate|despise|can't stand) (?:all )?{_GROUPS}\b"),
    _r("identity_hate", 0.6, r"\bgo back to (?:your|ur) (?:own )?(?:country|continent|jungle)\b"),
    # a group kept in its "place" or out of public life
    _r(
        "identity_hate",
        0.8,
        rf"\b{_GROUPS} (?:belong|should (?:stay|be kept)) (?:at home|in the kitchen|in cages|"
        r"in (?:their|the) place|back where they came from)\b|"
        rf"\b{_GROUPS} (?:should not|shouldn't|should never|must not|mustn't) be allowed to "
        r"(?:vote|work|drive|lead|speak|teach|marry|exist|live here|have rights)\b",
    ),
    # general toxicity
    _r("toxic", 0.8, r"\b(?:i )?hate (?:you|u|ya)\b|\bscrew (?:you|u|off)\b|\bgo to hell\b"),
    _r("toxic", 0.88, r"\bf\W*(?:u|ck|uck)\w* (?:you|u|off|yourself)\b|\bstfu\b|\bgtfo\b"),
    _r("toxic", 0.35, r"\bget lost\b|\bgo away\b"),
)


# Operators' commands use violent verbs on machines: "kill the process on port 8080", "shut down
# the database replica", "nuke the build cache". A toxicity model reads the verb, and a build
# that put its point at 0.80 blocked those two commands at 0.83 and 0.86. The verb must govern a
# computing noun (up to three words between: "kill the stuck java process"), and the noun must
# not be someone's ("the server admin", "the database team").
_TECHNICAL_VERBS = (
    r"(?:kill|killall|pkill|terminate|shut ?down|nuke|destroy|wipe|purge|drop|abort|execute|"
    r"take down|tear down|blow away|strangle|throttle|choke|starve|murder|slaughter|hang up)"
)
_TECHNICAL_NOUNS = (
    r"(?:process(?:es)?|pids?|jobs?|tasks?|pods?|containers?|servers?|instances?|nodes?|"
    r"replicas?|databases?|dbs?|tables?|clusters?|sessions?|connections?|threads?|services?|"
    r"daemons?|ports?|branch(?:es)?|builds?|caches?|queues?|vms?|workers?|quer(?:y|ies)|"
    r"transactions?|programs?|apps?|applications?|scripts?|loops?|tabs?|windows?|terminals?|"
    r"shells?|kernels?|deployments?|stacks?|environments?|buckets?|volumes?|disks?|partitions?|"
    r"indexe?s?|schemas?|commits?|requests?|tunnels?|sockets?|listeners?|cron ?jobs?|timers?|"
    r"consumers?|producers?|brokers?|topics?|dockers?|images?|networks?|firewalls?|websites?|"
    r"sites?|pipelines?|runners?|agents?|bots?|engines?)"
)
_SOMEONE = (
    r"(?:admins?|administrators?|owners?|guys?|team|teams|people|staff|operators?|engineers?|"
    r"users?|folks|crew|manager|managers|developers?|devs)"
)
_TECHNICAL = re.compile(
    rf"\b{_TECHNICAL_VERBS}\b(?:\s+-\w+)*\s+(?:[\w.:/-]+\s+){{0,3}}?{_TECHNICAL_NOUNS}\b"
    rf"(?!\W+{_SOMEONE}\b)"
    rf"|\b(?:kill|pkill|killall)\s+(?:-\w+\s+)*%?\d+\b"
)


def technical_command(text: str) -> str | None:
    """The operator's command in ``text`` ("kill the process on port 8080"), if it has one: a
    violent verb whose object is a machine, not a person."""
    found = _TECHNICAL.search(views(text).deleeted)
    return found.group() if found else None


class HeuristicToxicity:
    """Per-category scores in ``categories``; the verdict score is the highest of them."""

    name = "toxicity"
    positive_label = "TOXIC"
    negative_label = "NON_TOXIC"

    def __init__(self, *, threshold: float = 0.5, engine: str = "auto") -> None:
        """``engine``: how the rules are matched (see ``matcher.PatternSet``); the results are
        the same whichever it is."""
        self.threshold = threshold
        self.matcher = shared_pattern_set(tuple(rule.regex for rule in RULES), engine)

    def scan(self, text: str) -> ScanResult:
        view = views(text).deleeted
        hits: dict[str, list[float]] = {c: [] for c in CATEGORIES}
        reported: dict[str, list[float]] = {c: [] for c in CATEGORIES}  # inside quotation marks
        strong_obscene = 0
        matched: list[str] = []
        quotes = quoted_spans(view)
        for index in self.matcher.candidates(view):  # in rule order, as if all were tried
            rule = RULES[index]
            said: list[str] = []
            quoted: list[str] = []
            for match in rule.regex.finditer(view):
                inside = quotes and any(s < match.start() and match.end() < e for s, e in quotes)
                (quoted if inside else said).append(match.group())
            for found, into in ((said, hits), (quoted, reported)):
                if found:
                    # Repetition counts, but with diminishing returns (three hits at most).
                    count = len(set(found)) if rule.distinct else len(found)
                    into[rule.category].extend([rule.weight] * min(count, 3))
            if rule.strong and rule.category == "obscene":
                strong_obscene += len(said)
        categories = {c: noisy_or(w) for c, w in hits.items()}
        for c, w in reported.items():  # quoted hits, combined first, then halved
            if w:
                categories[c] = noisy_or([categories[c], QUOTED_WEIGHT * noisy_or(w)])

        severe = 0.0
        aimed = max(categories["insult"], categories["threat"], categories["identity_hate"])
        if categories["obscene"] >= 0.75 and aimed >= 0.75:
            severe = 0.9
        elif categories["threat"] >= 0.85 and categories["obscene"] >= 0.3:
            severe = 0.85
        elif strong_obscene >= 3:
            severe = 0.8
        elif categories["toxic"] >= 0.88 and categories["obscene"] >= 0.75:
            severe = 0.8
        categories["severe_toxic"] = severe
        categories["toxic"] = max(categories.values())
        matched = [c for c in CATEGORIES if categories[c] >= self.threshold and c != "toxic"]
        score = categories["toxic"]
        return ScanResult(
            score=score,
            label=self.positive_label if score >= self.threshold else self.negative_label,
            risk=score,
            method="heuristic",
            matched=tuple(matched),
            categories=categories,
        )

    def scan_batch(self, texts: Sequence[str]) -> list[ScanResult]:
        return [self.scan(text) for text in texts]
