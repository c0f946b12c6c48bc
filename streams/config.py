"""One typed settings object for the worker and the CLI.

Values are layered: defaults < TOML file (``--config``) < ``LLM_SHIELD_*`` environment < flags.
Every setting has a dotted name (``scanners.toxicity.threshold``) that is also its TOML path; its
environment variable is that name upper-cased with ``_`` for dots
(``LLM_SHIELD_SCANNERS_TOXICITY_THRESHOLD``).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llm_shield.streams.errors import ConfigError

ENV_PREFIX = "LLM_SHIELD_"
# Settings that may come only from the environment (or a file a setting names), never from a TOML
# file or a flag that ends up in shell history, and that are never printed.
SECRET_SETTINGS = frozenset({"kafka.sasl_password", "serve.token"})
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
ACTIONS = ("block", "flag", "ignore")
SCANNER_NAMES = ("prompt_injection", "toxicity", "sentiment")


def _default_model_home() -> Path:
    from llm_shield.registry.home import default_home

    return default_home()


def _default_cache_root() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "llm-shield"


@dataclass(frozen=True)
class KafkaSettings:
    """How the worker talks to Kafka; short timeouts keep the first group join fast on Tansu."""

    partitions: int = 6
    replication_factor: int = 1
    session_timeout_seconds: float = 10.0
    rebalance_timeout_seconds: float = 10.0
    connect_timeout_seconds: float = 15.0
    client_id: str = "llm-shield"
    # How long a fetch may wait for data. faust hard-codes 1.5 s; a broker that answers only when
    # the wait ends (Tansu does) then adds up to that much latency to every quiet-time event.
    fetch_max_wait_ms: int = 100
    # While events arrive (and for active_after_seconds after the last one) the worker fetches
    # with this shorter wait instead: an inline check on a quiet worker is not held up to 100 ms
    # by the fetch in flight, and an idle worker goes back to the long wait (less CPU).
    # Set it equal to fetch_max_wait_ms to turn pacing off.
    active_fetch_max_wait_ms: int = 5
    active_after_seconds: float = 10.0
    # How often acknowledged offsets are committed: after a crash, at most about this much work
    # is scanned again (faust's default is 2.8 s).
    commit_interval_seconds: float = 1.0
    # How often the worker checks that the broker answers and still has its topics (0 = never).
    watch_interval_seconds: float = 5.0
    # How long a stop (SIGTERM, Ctrl-C) may take to finish the batch in flight and commit.
    shutdown_grace_seconds: float = 30.0
    # Transport security, for every client the project makes (worker, publish, tail, bench).
    security_protocol: str = "PLAINTEXT"  # PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL
    ssl_cafile: str = ""  # CA bundle that signed the broker's certificate ("" = system CAs)
    ssl_certfile: str = ""  # client certificate, for brokers that ask for one (mutual TLS)
    ssl_keyfile: str = ""
    ssl_check_hostname: bool = True
    sasl_mechanism: str = "SCRAM-SHA-512"  # PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512
    sasl_username: str = ""
    # Secret: only from LLM_SHIELD_KAFKA_SASL_PASSWORD or the file named here; never logged.
    sasl_password: str = field(default="", repr=False)
    sasl_password_file: str = ""


@dataclass(frozen=True)
class TopicSettings:
    prompts: str = "llm-shield.prompts"
    responses: str = "llm-shield.responses"
    verdicts: str = "llm-shield.verdicts"
    alerts: str = "llm-shield.alerts"
    deadletter: str = "llm-shield.deadletter"
    # Per-tenant policy overrides (compacted, key = tenant) and the one-minute stats windows.
    policies: str = "llm-shield.policies"
    stats: str = "llm-shield.stats"


@dataclass(frozen=True)
class BatchingSettings:
    """Upper bounds of one batch: it is cut when full or when the window closes."""

    # Large batches let the model runtime sort texts by length across more of them, so less
    # padding is computed (replay of 10k texts: 64 -> 523 ev/s, 256 -> 729 ev/s on 2 cores).
    max_batch_size: int = 256
    window_seconds: float = 0.1
    # Adaptive: a batch is whatever arrived while the model was busy (a lone event goes at once);
    # off: every batch waits for the window to close unless it fills first.
    adaptive: bool = True


@dataclass(frozen=True)
class ModelSettings:
    """The model runtime: threads, the result cache, the hybrid rule, retries after failures."""

    # The model's threads (0: the cores this process may use) and how many batches run side by
    # side on them (0: one per thread, each run single-threaded; see models.session.run_threads).
    intra_op_threads: int = 0
    concurrent_runs: int = 0
    graph_optimization: str = "all"  # disable | basic | extended | all
    # Let onnxruntime's threads spin as long as they like, between runs too (otherwise they spin
    # at most 10 us between a run's operators and sleep after it): faster back to back, but at
    # low load the spinning is most of the worker's CPU, and it starves processes beside the
    # worker. Off unless the worker has the cores to itself.
    spin_wait: bool = False
    max_batch_size: int = 32
    window_overlap_tokens: int = 32
    max_windows: int = 64  # a longer text is scored on its first and last windows only
    # Which texts are also scored sentence by sentence (one planted instruction stands out on its
    # own, not inside a 256-token window): off | responses | all.
    sentence_windows: str = "responses"
    sentence_window_tokens: int = 64
    # Texts of at most this many words (everyday turns: "ok", "continue") are flagged only with
    # pattern evidence or a model score of at least the scanner's short_text_threshold. Chosen on
    # the tuning sets: 3 words flags none of their everyday turns, as 5 did, and misses fewer
    # short attacks (s-labs validation F1 0.957 -> 0.971).
    short_text_words: int = 3
    # Prompts of more than this many words are read as documents (sentence windows, the
    # response threshold): a document pasted into a prompt ("Summarize this: ...") or a long
    # system prompt is judged by the prompt threshold otherwise, and the prompt threshold is
    # low. Chosen on the tuning sets' prompts of more than 40 words (attacks 336, benign 151):
    # read as prompts 329 caught and 86 benign blocked (F1 0.876), with 40 305 and 15 (F1 0.930;
    # 50: 0.924, 80: 0.913); s-labs and neuralchemy validation F1 0.966 either way. With the
    # starter model before: 321 and 61 (F1 0.894) against 314 and 19 (F1 0.939; 50: 0.932,
    # 80: 0.921); with the current one 322 and 46 (F1 0.915) against 307 and 14 (F1 0.935; 50:
    # 0.931, 80: 0.922). 0 = off.
    document_words: int = 40
    cache_enabled: bool = True
    cache_ttl_seconds: float = 7 * 24 * 3600.0
    cache_size_mb: int = 512
    hybrid_settle_score: float = 0.85
    retry_seconds: float = 30.0
    # How often a loaded model's files are re-checked (size + mtime, sha256 when they changed).
    verify_interval_seconds: float = 60.0
    catalog: str = ""  # extra catalog files (os.pathsep-separated), as LLM_SHIELD_CATALOG


@dataclass(frozen=True)
class InputSettings:
    max_event_bytes: int = 64 * 1024
    # 0 turns the copy of the raw input in dead-letter records off.
    deadletter_raw_bytes: int = 4096
    # Mask e-mail addresses, phone numbers and card numbers in dead letters and log lines.
    redact: bool = True


@dataclass(frozen=True)
class InlineSettings:
    """Request-reply checks (``ShieldClient``, ``llm-shield check``, ``serve``): the worker
    writes a verdict to the reply topic an event names, but only under ``reply_prefix``."""

    reply_prefix: str = "llm-shield.replies."
    timeout_seconds: float = 5.0
    on_timeout: str = "raise"  # raise | allow (fail open) | block (fail closed)
    # The client's fetch wait on its reply topic; it fetches only while checks are pending.
    fetch_max_wait_ms: int = 5
    # Reply topics whose newest record is older than this (clients heartbeat every quarter of
    # it) belong to crashed clients: the worker deletes them.
    stale_reply_topic_seconds: float = 3600.0


@dataclass(frozen=True)
class ServeSettings:
    """The HTTP gateway (``llm-shield serve``)."""

    host: str = "127.0.0.1"
    port: int = 8080
    # Requests being answered at once; more get 503 with Retry-After, never an unbounded queue.
    max_concurrency: int = 256
    # Secret: only from LLM_SHIELD_SERVE_TOKEN or the file named here; "" = no token needed.
    token: str = field(default="", repr=False)
    token_file: str = ""


MODES = ("heuristic", "ml", "hybrid", "ensemble")
FAIL_MODES = ("open", "closed")
SENTENCE_WINDOWS = ("off", "responses", "all")
FALLBACKS = ("heuristic", "none")
DEFAULT_MODEL = "multi_task/starter-minilm"


@dataclass(frozen=True)
class ScannerSettings:
    """One scanner: whether it runs, how it scores, where it flags, what a flag does.

    ``mode``: heuristic (patterns only), ml (the model), hybrid (confident heuristic hits settle
    the case, the model scores the rest), ensemble (both run; the higher risk counts).
    ``fallback = "heuristic"`` keeps the worker scanning when the model is missing or broken,
    and the verdicts say ``heuristic_fallback``; ``"none"`` makes a missing model fatal at start.
    """

    enabled: bool = True
    threshold: float = 0.5
    # The model's score on kind=response events (model answers, tool outputs, documents) is
    # judged by this instead (pattern evidence keeps ``threshold``). None ("model" in a file or
    # variable): the point the model's build tuned for responses, from its manifest, or
    # ``threshold`` for a model that records none.
    response_threshold: float | None = None
    short_text_threshold: float = 0.9
    action: str = "block"
    mode: str = "ml"
    model: str = DEFAULT_MODEL
    variant: str = "int8"
    fallback: str = "heuristic"
    # When the model could not run and the heuristic answered (``heuristic_fallback``): "open"
    # decides on the heuristic's score, "closed" blocks the event (unless the action is ignore).
    fail_mode: str = "open"


@dataclass(frozen=True)
class InjectionScannerSettings(ScannerSettings):
    """The injection scanner's settings: a scanner's, and how it reads a toxic prompt."""

    # A prompt the toxicity scanner scores at least this is named an injection too only with
    # pattern evidence or an injection score of at least this (0: off). The model's injection
    # head also rises on hostility aimed at the reader ('Only an idiot like you could ...'
    # scored 0.73): such a prompt is blocked for toxicity. Chosen on the tuning prompts
    # (ops/data/tuning, the validation splits).
    toxic_text_threshold: float = 0.9


@dataclass(frozen=True)
class ToxicityScannerSettings(ScannerSettings):
    """The toxicity scanner's settings: a scanner's, and how it reads an operator's command."""

    # A text that holds an operator's command ("kill the process on port 8080", "shut down the
    # database replica": a violent verb whose object is a machine) is flagged by the model's
    # score only at this score or more; pattern evidence (an insult, a threat at a person) is
    # judged as usual. 0 turns it off.
    technical_text_threshold: float = 0.95


@dataclass(frozen=True)
class ScannersSettings:
    # Ensemble: the model catches paraphrases in short texts, the patterns catch explicit
    # attacks anywhere in long ones (a mean-pooled window dilutes one injected sentence).
    # Responses are read sentence by sentence; the starter build tunes their operating point
    # on ops/data/tuning (at most 3% of benign tuning documents flagged) and records it in
    # the model's manifest, which is where the default response threshold comes from.
    prompt_injection: InjectionScannerSettings = field(
        default_factory=lambda: InjectionScannerSettings(mode="ensemble")
    )
    toxicity: ToxicityScannerSettings = field(
        default_factory=lambda: ToxicityScannerSettings(mode="ensemble")
    )
    # Negative sentiment is worth knowing, rarely worth an alert: the policy ignores it.
    sentiment: ScannerSettings = field(
        default_factory=lambda: ScannerSettings(
            threshold=0.6, response_threshold=0.6, action="ignore", mode="ml"
        )
    )

    def get(self, name: str) -> ScannerSettings:
        return getattr(self, name)


@dataclass(frozen=True)
class PolicySettings:
    """Per-tenant overrides read live from ``topics.policies`` (``llm-shield policy set``)."""

    enabled: bool = True
    # How long each fetch of the policies topic waits for a new record. A write is applied
    # within about this long; every wait costs the worker and the broker a fetch, so a short
    # one is paid for all day while policies change a few times a week (measured on an idle
    # worker: 50 ms cost 3% of a core in the worker and 4% in the broker, 250 ms 1% and 2%).
    follow_wait_ms: int = 250


@dataclass(frozen=True)
class ConversationSettings:
    """Conversation state kept per ``conversation_id`` in a changelog-backed Faust table."""

    enabled: bool = True
    # Turns remembered per conversation (their ids, risks and decisions). Measured: a state of
    # 10 turns and 3 remembered prompts takes about 1.1 KB in memory (20 turns: 1.7 KB).
    max_turns: int = 10
    # The injection scanner also scores the last this-many prompts joined (1 = off), so an
    # instruction split across turns is read whole.
    joined_prompts: int = 4
    # The injection score a joined text needs to escalate (higher than a single prompt's: benign
    # turns read as more insistent together). Chosen on ops/conversations/tuning.jsonl and on
    # benign conversations that change the subject every turn, composed from the tuning sets'
    # benign prompts and short turns (`models eval --conversations tuning-topics`): joined, two
    # unrelated requests and a "pardon?" read like an instruction slipped into a document, and
    # with the current starter model such joined texts reach 0.963 (0.954, 0.946, 0.94 next),
    # so at 0.85 the state blocked 14 of those 300 conversations that every turn alone allowed.
    # The attacks' joined texts in tuning.jsonl score 0.769, 0.9 and 0.948, each in a
    # conversation already caught by a turn blocked on its own: every threshold catches the same
    # 12 of 12 attack conversations there (attack turns: 34 at 0.85, 32 from 0.95 with pattern
    # hits judged by it too, 33 at 0.97 with the rule below); 0.97 is the lowest that adds none
    # of the 300. It is for model scores only: pattern evidence on a joined
    # text is judged by the scanner's own threshold (Pipeline._converse), so "Ignore the" /
    # "above" / "instructions" (the model 0.90 joined, the patterns 0.92) still escalates.
    # Until 2026-12-06 it was 0.85, chosen on tuning.jsonl alone (its benign chats stay on
    # one topic; their joined texts reach 0.35).
    joined_threshold: float = 0.97
    # Only a prompt of at most this many words is also scored joined: an instruction split
    # across turns comes in short pieces, and a longer prompt is read whole on its own. Each
    # joined text is one more model row, so this bounds what context costs (0 = every prompt
    # not read as a document: models.document_words). On ops/conversations/tuning.jsonl every
    # limit from 6 to 20 words (and none) caught the same turns; 8 keeps a margin.
    joined_max_words: int = 8
    # The patterns read every joined text (they cost little); the model reads one, a model row,
    # only when that prompt or one of the prompts it is joined with scored at least this much
    # risk on its own: everyday turns carry none (responses are never joined, so their risk does
    # not count here). On the tuning conversations (ops/conversations/tuning.jsonl and
    # tuning_2.jsonl, 52 attacks; tuning-topics, 300 benign) every floor from 0 to 0.2 catches
    # the same 47 attack conversations and 100 attack turns with the same 9 benign conversations
    # not allowed, scoring 865, 404, 318, 200, 152 and 123 joined texts at 0, 0.03, 0.05, 0.1,
    # 0.15 and 0.2 (0.3 loses one attack). Checked again with the model an AVX2 machine builds
    # (fp32 training): 211, 177, 150 and 119 joined texts at 0.1, 0.15, 0.2 and 0.25, the same
    # catches and false alarms at each, one attack conversation lost at 0.3. 0.15 is about the
    # middle of the floors that keep every catch, and it reads a quarter fewer joined texts
    # than 0.1: on the bench's conversation stream (2,012 events) 63 instead of 87 (94 with the
    # bf16-trained model; 0.05 read 135 and 0.03 173, the same verdicts), and the joined pass
    # took 5.0% of the replay's time instead of 6.2-6.5%. Until 2026-12-06 a joined text below
    # the floor was not read at all, and the floor had to stay under the pieces of the
    # integration test's split attack ("Ignore the" 0.097, "instructions" 0.059); the patterns
    # now catch that one whatever the floor.
    joined_min_risk: float = 0.15
    # Rolling risk: every turn's risk, older turns weighted down by this per turn (noisy-OR).
    decay: float = 0.8
    # A conversation whose rolling risk reaches this is escalated (an alert).
    escalation_risk: float = 0.9
    # What an escalation does to the turn's decision: block | flag | ignore.
    action: str = "block"
    # State of a conversation without a turn for this long is dropped.
    idle_seconds: float = 3600.0
    # At most this many conversations are kept per worker (about 55 MB of states at 10 turns);
    # the least recently seen go first.
    max_conversations: int = 50_000


@dataclass(frozen=True)
class StatsSettings:
    """Tumbling windows of counts, flags, score histograms and latency per tenant and kind."""

    enabled: bool = True
    window_seconds: float = 60.0


@dataclass(frozen=True)
class Settings:
    broker: str = "127.0.0.1:9092"
    group_id: str = "llm-shield"
    log_level: str = "warning"
    metrics_port: int = 0  # 0 = no metrics endpoint
    metrics_host: str = "127.0.0.1"
    cache_dir: Path = field(default_factory=lambda: _default_cache_root() / "cache")
    model_home: Path = field(default_factory=lambda: _default_model_home())
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    topics: TopicSettings = field(default_factory=TopicSettings)
    batching: BatchingSettings = field(default_factory=BatchingSettings)
    input: InputSettings = field(default_factory=InputSettings)
    models: ModelSettings = field(default_factory=ModelSettings)
    scanners: ScannersSettings = field(default_factory=ScannersSettings)
    inline: InlineSettings = field(default_factory=InlineSettings)
    serve: ServeSettings = field(default_factory=ServeSettings)
    policies: PolicySettings = field(default_factory=PolicySettings)
    conversations: ConversationSettings = field(default_factory=ConversationSettings)
    stats: StatsSettings = field(default_factory=StatsSettings)

    @property
    def input_topics(self) -> tuple[str, str]:
        return (self.topics.prompts, self.topics.responses)

    @property
    def output_topics(self) -> tuple[str, str, str]:
        return (self.topics.verdicts, self.topics.alerts, self.topics.deadletter)

    @property
    def context_topics(self) -> tuple[str, str]:
        """Topics of the stream's context: policies in, stats out (created with the others)."""
        return (self.topics.policies, self.topics.stats)


def setting_names() -> dict[str, type]:
    """Every dotted setting name with its leaf type; the source of env names and ``--set`` keys."""
    names: dict[str, type] = {}

    def walk(cls: type, prefix: str) -> None:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            hint = hints[f.name]
            name = f"{prefix}{f.name}"
            if dataclasses.is_dataclass(hint):
                walk(hint, name + ".")
            else:
                names[name] = hint

    walk(Settings, "")
    return names


def setting_value(settings: Settings, dotted: str) -> Any:
    value: Any = settings
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def env_name(dotted: str) -> str:
    return ENV_PREFIX + dotted.replace(".", "_").upper()


def _coerce(name: str, hint: type, value: Any, source: str) -> Any:
    """Turn a TOML, env or flag value into the setting's type, or say which setting is wrong."""
    if isinstance(hint, types.UnionType):
        # An optional setting: "model" (or nothing) leaves the choice to the installed model.
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "model")):
            return None
        hint = next(h for h in typing.get_args(hint) if h is not type(None))
    try:
        if hint is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true or false")
        if hint is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError("expected a whole number")
            return int(value)
        if hint is float:
            if isinstance(value, bool):
                raise ValueError("expected a number")
            return float(value)
        if hint is Path:
            return Path(str(value)).expanduser()
        if hint is str:
            if not isinstance(value, str | int | float):
                raise ValueError("expected a string")
            return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} from {source}: {value!r} is not valid ({exc})") from None
    raise ConfigError(f"{name}: unsupported setting type {hint}")  # pragma: no cover


def _flatten_toml(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten_toml(value, name + "."))
        else:
            flat[name] = value
    return flat


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"config file is a directory: {path}") from None
    except PermissionError:
        raise ConfigError(f"config file not readable: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _merge(cls: type, current: Any, values: Mapping[str, Any], prefix: str) -> Any:
    """Rebuild the frozen dataclass ``current`` with the dotted ``values`` that fall under it."""
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        name = f"{prefix}{f.name}"
        value = getattr(current, f.name)
        if dataclasses.is_dataclass(hint):
            kwargs[f.name] = _merge(hint, value, values, name + ".")
        else:
            kwargs[f.name] = values.get(name, value)
    return cls(**kwargs)


def _validate(settings: Settings) -> Settings:
    def need(ok: bool, message: str) -> None:
        if not ok:
            raise ConfigError(message)

    need(bool(settings.broker.strip()), "broker must not be empty (host:port)")
    for part in settings.broker.split(","):
        host, _, port = part.strip().rpartition(":")
        need(
            bool(host) and port.isdigit() and 0 < int(port) < 65536,
            f"broker: {part.strip()!r} is not host:port",
        )
    need(0 <= settings.metrics_port < 65536, "metrics_port must be 0 (off) or a port number")
    need(settings.kafka.partitions >= 1, "kafka.partitions must be at least 1")
    need(settings.kafka.replication_factor >= 1, "kafka.replication_factor must be at least 1")
    need(settings.kafka.fetch_max_wait_ms >= 1, "kafka.fetch_max_wait_ms must be at least 1")
    need(
        1 <= settings.kafka.active_fetch_max_wait_ms <= settings.kafka.fetch_max_wait_ms,
        "kafka.active_fetch_max_wait_ms must be between 1 and kafka.fetch_max_wait_ms",
    )
    need(settings.kafka.active_after_seconds > 0, "kafka.active_after_seconds must be > 0")
    kafka = settings.kafka
    need(kafka.shutdown_grace_seconds > 0, "kafka.shutdown_grace_seconds must be > 0")
    need(kafka.commit_interval_seconds > 0, "kafka.commit_interval_seconds must be > 0")
    need(kafka.watch_interval_seconds >= 0, "kafka.watch_interval_seconds must be >= 0")
    need(
        kafka.security_protocol in SECURITY_PROTOCOLS,
        f"kafka.security_protocol must be one of {', '.join(SECURITY_PROTOCOLS)}, "
        f"got {kafka.security_protocol!r}",
    )
    need(
        kafka.sasl_mechanism in SASL_MECHANISMS,
        f"kafka.sasl_mechanism must be one of {', '.join(SASL_MECHANISMS)}, "
        f"got {kafka.sasl_mechanism!r}",
    )
    need(
        bool(kafka.ssl_certfile) == bool(kafka.ssl_keyfile),
        "kafka.ssl_certfile and kafka.ssl_keyfile go together (a client certificate needs its key)",
    )
    if kafka.security_protocol.startswith("SASL"):
        need(
            bool(kafka.sasl_username),
            f"kafka.sasl_username is needed for {kafka.security_protocol}",
        )
        need(
            bool(kafka.sasl_password),
            f"{kafka.security_protocol} needs a password: set {env_name('kafka.sasl_password')} "
            "or kafka.sasl_password_file",
        )
    need(settings.kafka.session_timeout_seconds > 0, "kafka.session_timeout_seconds must be > 0")
    need(
        settings.kafka.rebalance_timeout_seconds > 0, "kafka.rebalance_timeout_seconds must be > 0"
    )
    need(settings.batching.max_batch_size >= 1, "batching.max_batch_size must be at least 1")
    need(settings.batching.window_seconds > 0, "batching.window_seconds must be > 0")
    need(settings.input.max_event_bytes >= 64, "input.max_event_bytes must be at least 64")
    need(settings.input.deadletter_raw_bytes >= 0, "input.deadletter_raw_bytes must be >= 0")
    topics = dataclasses.asdict(settings.topics)
    for key, topic in topics.items():
        need(bool(topic.strip()), f"topics.{key} must not be empty")
    need(len(set(topics.values())) == len(topics), "topics: every topic needs its own name")
    for name in SCANNER_NAMES:
        scanner = settings.scanners.get(name)
        need(
            0.0 <= scanner.threshold <= 1.0,
            f"scanners.{name}.threshold must be between 0 and 1, got {scanner.threshold}",
        )
        need(
            scanner.action in ACTIONS,
            f"scanners.{name}.action must be one of {', '.join(ACTIONS)}, got {scanner.action!r}",
        )
        need(
            scanner.mode in MODES,
            f"scanners.{name}.mode must be one of {', '.join(MODES)}, got {scanner.mode!r}",
        )
        need(
            scanner.fallback in FALLBACKS,
            f"scanners.{name}.fallback must be heuristic or none, got {scanner.fallback!r}",
        )
        need(
            scanner.variant in ("fp32", "fp16", "int8"),
            f"scanners.{name}.variant must be fp32, fp16 or int8, got {scanner.variant!r}",
        )
        need("/" in scanner.model, f"scanners.{name}.model must look like task/name")
        need(
            scanner.fail_mode in FAIL_MODES,
            f"scanners.{name}.fail_mode must be open or closed, got {scanner.fail_mode!r}",
        )
        for key in (
            "response_threshold",
            "short_text_threshold",
            "toxic_text_threshold",
            "technical_text_threshold",
        ):
            value = getattr(scanner, key, None)
            need(
                value is None or 0.0 <= value <= 1.0,
                f"scanners.{name}.{key} must be between 0 and 1, got {value}",
            )
    models = settings.models
    need(models.intra_op_threads >= 0, "models.intra_op_threads must be >= 0")
    need(models.concurrent_runs >= 0, "models.concurrent_runs must be >= 0")
    need(
        models.graph_optimization in ("disable", "basic", "extended", "all"),
        "models.graph_optimization must be disable, basic, extended or all",
    )
    need(models.max_batch_size >= 1, "models.max_batch_size must be at least 1")
    need(models.max_windows >= 2, "models.max_windows must be at least 2")
    need(models.window_overlap_tokens >= 0, "models.window_overlap_tokens must be >= 0")
    need(
        models.sentence_windows in SENTENCE_WINDOWS,
        f"models.sentence_windows must be one of {', '.join(SENTENCE_WINDOWS)}, "
        f"got {models.sentence_windows!r}",
    )
    need(models.sentence_window_tokens >= 8, "models.sentence_window_tokens must be at least 8")
    need(models.short_text_words >= 0, "models.short_text_words must be >= 0 (0 = off)")
    need(models.document_words >= 0, "models.document_words must be >= 0 (0 = off)")
    need(models.cache_ttl_seconds > 0, "models.cache_ttl_seconds must be > 0")
    need(models.verify_interval_seconds > 0, "models.verify_interval_seconds must be > 0")
    need(models.retry_seconds > 0, "models.retry_seconds must be > 0")
    need(models.cache_size_mb >= 1, "models.cache_size_mb must be at least 1")
    need(
        0.0 < models.hybrid_settle_score <= 1.0,
        "models.hybrid_settle_score must be in (0, 1]",
    )
    inline = settings.inline
    need(
        bool(inline.reply_prefix.strip()) and inline.reply_prefix not in topics.values(),
        "inline.reply_prefix must be a non-empty prefix that is not one of the topics",
    )
    need(inline.timeout_seconds > 0, "inline.timeout_seconds must be > 0")
    need(
        inline.on_timeout in ("raise", "allow", "block"),
        f"inline.on_timeout must be raise, allow or block, got {inline.on_timeout!r}",
    )
    need(inline.fetch_max_wait_ms >= 1, "inline.fetch_max_wait_ms must be at least 1")
    need(inline.stale_reply_topic_seconds >= 60, "inline.stale_reply_topic_seconds must be >= 60")
    conversations = settings.conversations
    need(conversations.max_turns >= 1, "conversations.max_turns must be at least 1")
    need(
        1 <= conversations.joined_prompts <= conversations.max_turns,
        "conversations.joined_prompts must be between 1 (off) and conversations.max_turns",
    )
    need(0.0 <= conversations.decay <= 1.0, "conversations.decay must be between 0 and 1")
    need(conversations.joined_max_words >= 0, "conversations.joined_max_words must be >= 0")
    need(
        0.0 <= conversations.joined_min_risk <= 1.0,
        "conversations.joined_min_risk must be between 0 and 1",
    )
    need(
        0.0 < conversations.joined_threshold <= 1.0,
        "conversations.joined_threshold must be in (0, 1]",
    )
    need(
        0.0 < conversations.escalation_risk <= 1.0,
        "conversations.escalation_risk must be in (0, 1]",
    )
    need(
        conversations.action in ACTIONS,
        f"conversations.action must be one of {', '.join(ACTIONS)}, got {conversations.action!r}",
    )
    need(conversations.idle_seconds > 0, "conversations.idle_seconds must be > 0")
    need(conversations.max_conversations >= 1, "conversations.max_conversations must be >= 1")
    need(settings.stats.window_seconds >= 1, "stats.window_seconds must be at least 1")
    need(
        10 <= settings.policies.follow_wait_ms <= 1000,
        "policies.follow_wait_ms must be between 10 and 1000",
    )
    need(0 < settings.serve.port < 65536, "serve.port must be a port number")
    need(settings.serve.max_concurrency >= 1, "serve.max_concurrency must be at least 1")
    need(
        settings.log_level.lower() in ("debug", "info", "warning", "error"),
        f"log_level must be debug, info, warning or error, got {settings.log_level!r}",
    )
    return settings


def load_settings(
    config_file: Path | str | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Layer defaults, the TOML file, the environment and explicit overrides, then validate.

    ``overrides`` uses dotted names (what flags and ``--set`` produce); ``None`` values mean
    "flag not given" and are skipped so that they do not mask the environment.
    """
    names = setting_names()
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}

    if config_file is None and environ.get(ENV_PREFIX + "CONFIG"):
        config_file = environ[ENV_PREFIX + "CONFIG"]
    if config_file is not None:
        path = Path(config_file).expanduser()
        for name, raw in _flatten_toml(_read_toml(path)).items():
            if name not in names:
                raise ConfigError(f"{path}: unknown setting {name!r}")
            _refuse_secret(name, f"a config file ({path})")
            values[name] = _coerce(name, names[name], raw, str(path))

    for name, hint in names.items():
        var = env_name(name)
        if var in environ:
            values[name] = _coerce(name, hint, environ[var], var)

    for name, raw in (overrides or {}).items():
        if raw is None:
            continue
        if name not in names:
            raise ConfigError(f"unknown setting {name!r}")
        _refuse_secret(name, "the command line")
        values[name] = _coerce(name, names[name], raw, "command line")

    for secret, file_setting in SECRET_FILES.items():
        secret_file = values.get(file_setting)
        if secret_file and secret not in values:
            values[secret] = _read_secret_file(file_setting, Path(secret_file).expanduser())
    return _validate(_merge(Settings, Settings(), values, ""))


# Each secret may also be read from a file that another setting names.
SECRET_FILES = {
    "kafka.sasl_password": "kafka.sasl_password_file",
    "serve.token": "serve.token_file",
}


def _refuse_secret(name: str, source: str) -> None:
    if name in SECRET_SETTINGS:
        raise ConfigError(
            f"{name} may not come from {source}: set {env_name(name)} in the environment "
            f"or name a file with {SECRET_FILES[name]}"
        )


def _read_secret_file(setting: str, path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise ConfigError(f"{setting}: {path} does not exist") from None
    except (PermissionError, IsADirectoryError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{setting}: cannot read {path} ({exc.__class__.__name__})") from None


def shown_value(settings: Settings, dotted: str) -> Any:
    """A setting's value as it may be printed or logged: secrets are masked."""
    value = setting_value(settings, dotted)
    if dotted in SECRET_SETTINGS:
        return "***" if value else ""
    if value is None:  # an optional setting left to the model (written the same way)
        return "model"
    return value


def parse_assignment(text: str) -> tuple[str, str]:
    """``--set name=value`` -> (name, value), with a clear error for anything else."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise ConfigError(f"--set expects name=value, got {text!r}")
    return name.strip(), value


def override_settings(settings: Settings, values: Mapping[str, Any], source: str) -> Settings:
    """``settings`` with some dotted ``values`` changed, coerced and validated like any layer
    (a tenant policy is one); a bad name or value raises ``ConfigError`` naming the field."""
    names = setting_names()
    coerced: dict[str, Any] = {}
    for name, raw in values.items():
        if name not in names:
            raise ConfigError(f"unknown setting {name!r}")
        coerced[name] = _coerce(name, names[name], raw, source)
    return _validate(_merge(Settings, settings, coerced, ""))
