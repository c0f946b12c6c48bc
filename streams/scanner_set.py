"""The scanners of one pipeline and the path that produces each score.

Per scanner, from its settings: ``heuristic`` (patterns only), ``ml`` (the model), ``hybrid`` (a
confident heuristic hit settles the text; the model scores the rest) or ``ensemble`` (both; the
higher risk counts). Scanners that share a model (the multi-task graph) share one encoder pass
and one result-cache lookup per text. A model that is missing, tampered with or failing turns its
scanners into ``heuristic_fallback`` (logged, counted, retried later) unless configured
``fallback = "none"``, which makes it fatal at start. Every result says which path produced it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from llm_shield.registry.errors import ShieldError
from llm_shield.streams.config import SCANNER_NAMES, ScannersSettings, Settings
from llm_shield.streams.errors import ModelUnavailable
from llm_shield.streams.frozen import record
from llm_shield.streams.heuristics import VERSION as HEURISTICS_VERSION
from llm_shield.streams.heuristics import (
    HeuristicPromptInjection,
    HeuristicSentiment,
    HeuristicToxicity,
)
from llm_shield.streams.heuristics.toxicity import technical_command
from llm_shield.streams.policy import is_flagged
from llm_shield.streams.scanner import Scanner, ScanResult

log = logging.getLogger(__name__)

HEURISTICS: dict[str, Callable[..., Scanner]] = {
    "prompt_injection": HeuristicPromptInjection,
    "toxicity": HeuristicToxicity,
    "sentiment": HeuristicSentiment,
}


@dataclass
class ScanStats:
    model_calls: int = 0
    model_rows: int = 0
    fallbacks: int = 0
    prefilter_settled: int = 0
    prefilter_passed: int = 0
    cache_hits: int = 0
    cache_misses: int = 0


@dataclass(frozen=True)
class _Output:
    """A scanner's labels in its model's output order, read once when the model loads (every
    result of every batch needs them)."""

    labels: tuple[str, ...]
    positive: str
    positive_index: int | None
    negative: str

    @classmethod
    def of(cls, spec: Any) -> _Output:
        labels = tuple(spec.labels)
        positive = spec.positive_label
        return cls(
            labels=labels,
            positive=positive,
            positive_index=labels.index(positive) if positive in labels else None,
            negative=next((label for label in labels if label != positive), positive),
        )


class ModelGroup:
    """One model (id + variant) and the scanners it answers; loaded at start, retried on failure."""

    def __init__(self, settings: Settings, model_id: str, variant: str, names: list[str]) -> None:
        self.settings = settings
        self.model_id = model_id
        self.variant = variant
        self.names = names
        self.classifier = None
        self.outputs: dict[str, _Output] = {}
        self.ref = f"{model_id}:{variant}"
        # Result-cache namespace: the model's files' content hash, so a model rebuilt or swapped
        # under the same version never gets the old files' cached scores.
        self.cache_namespace = self.ref
        self.error: str | None = None
        self.retry_at = 0.0
        self.resolved = None
        self.verified_at = 0.0

    def load(self) -> bool:
        from llm_shield.models.classifier import OnnxClassifier
        from llm_shield.models.session import run_threads
        from llm_shield.registry.bootstrap import resolve_model

        models = self.settings.models
        catalogs = [Path(p) for p in models.catalog.split(os.pathsep) if p]
        try:
            resolved = resolve_model(
                self.settings.model_home, self.model_id, self.variant, catalog_files=catalogs
            )
            missing = [n for n in self.names if n not in resolved.entry.outputs]
            if missing:
                raise ModelUnavailable(
                    f"{self.model_id} has no output for {', '.join(missing)} "
                    f"(it answers {', '.join(resolved.entry.outputs)})"
                )
            runs, threads = run_threads(models.intra_op_threads, models.concurrent_runs)
            classifier = OnnxClassifier(
                resolved.entry,
                resolved.folder,
                max_batch_size=models.max_batch_size,
                intra_op_threads=threads,
                concurrent_runs=runs,
                overlap_tokens=models.window_overlap_tokens,
                max_windows=models.max_windows,
                sentence_window_tokens=models.sentence_window_tokens,
                graph_optimization=models.graph_optimization,
                spin_wait=models.spin_wait,
            )
            classifier.session.preload()
        except (ShieldError, OSError, RuntimeError, ValueError) as exc:
            self.fail(exc)
            return False
        self.classifier = classifier
        self.outputs = {name: _Output.of(spec) for name, spec in resolved.entry.outputs.items()}
        self.resolved = resolved
        self.verified_at = time.monotonic()
        self.ref = resolved.ref
        from llm_shield.models.tokenizer import MODEL_VIEW

        digest = resolved.entry.content_hash(self.variant)[:16]
        self.cache_namespace = f"{resolved.ref}#{digest}+{MODEL_VIEW}"
        self.error = None
        log.info("model %s loaded for %s", self.ref, ", ".join(self.names))
        return True

    def fail(self, exc: BaseException) -> None:
        self.classifier = None
        self.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        self.retry_at = time.monotonic() + self.settings.models.retry_seconds
        log.warning(
            "model %s unavailable for %s: %s; heuristic_fallback until it loads (retry in %.0f s)",
            self.ref,
            ", ".join(self.names),
            self.error,
            self.settings.models.retry_seconds,
        )

    def ready(self) -> bool:
        """Loaded and its files still what the manifest says; else retry when it is time."""
        now = time.monotonic()
        if self.classifier is not None:
            if now - self.verified_at < self.settings.models.verify_interval_seconds:
                return True
            from llm_shield.registry.install import verify

            self.verified_at = now
            problems = verify(
                self.settings.model_home,
                self.resolved.entry,
                [self.variant],
                use_cache=True,
            )
            if not problems:
                return True
            self.fail(ModelUnavailable(f"model files changed on disk: {problems[0]}"))
            return False
        if now >= self.retry_at:
            return self.load()
        return False


def _result_to_json(result: ScanResult) -> dict:
    return {
        "s": result.score,
        "l": result.label,
        "r": result.risk,
        "m": list(result.matched),
        "c": result.categories,
        "x": result.scores,
    }


def _result_from_json(value: dict) -> ScanResult | None:
    try:
        return ScanResult(
            score=float(value["s"]),
            label=str(value["l"]),
            risk=float(value["r"]),
            method="heuristic",
            matched=tuple(value["m"]),
            categories=value["c"],
            scores=value["x"],
        )
    except (KeyError, TypeError, ValueError):
        return None  # an entry of another shape: score the text again


class _Lazy(dict):
    """Heuristic results per scanner, computed only when a path needs them."""

    def __init__(self, compute: Callable[[str], list[ScanResult]]) -> None:
        super().__init__()
        self._compute = compute

    def __missing__(self, name: str) -> list[ScanResult]:
        self[name] = value = self._compute(name)
        return value


@record
class ModelScores:
    probabilities: dict[str, list[float]]
    windows: int
    cached: bool
    spans: dict[str, list[int] | None]
    # Scan results built from these cached scores, by model, scanner and threshold: a text seen
    # again gets the same (immutable) results without building them again (``_result``).
    built: dict[tuple[str, str, float], ScanResult] = field(
        default_factory=dict, compare=False, repr=False
    )


def _scores_from_json(value: dict) -> ModelScores | None:
    try:
        return ModelScores(value["p"], value["w"], True, value["s"])
    except (KeyError, TypeError):
        return None  # an entry of another shape (before spans were kept): score it again


# What a blank text gets without any model or pattern: nothing in it can be risky.
_BLANK = {
    "prompt_injection": ("SAFE", None),
    "toxicity": ("NON_TOXIC", None),
    "sentiment": ("neutral", {"negative": 0.0, "neutral": 1.0, "positive": 0.0}),
}


class ScannerSet:
    def __init__(self, settings: Settings, scanners: Mapping[str, Scanner] | None = None) -> None:
        """``scanners`` replaces the configured ones (tests fake a collaborator this way)."""
        self.settings = settings
        self.stats = ScanStats()
        self.custom = dict(scanners) if scanners is not None else None
        self.names = (
            list(self.custom)
            if self.custom is not None
            else [n for n in SCANNER_NAMES if settings.scanners.get(n).enabled]
        )
        self.heuristics: dict[str, Scanner] = {}
        self.groups: dict[tuple[str, str], ModelGroup] = {}
        self.cache = None
        if self.custom is not None:
            return
        for name in self.names:
            options = settings.scanners.get(name)
            self.heuristics[name] = HEURISTICS[name](threshold=options.threshold)
            if options.mode != "heuristic":
                key = (options.model, options.variant)
                self.groups.setdefault(key, ModelGroup(settings, *key, [])).names.append(name)
        for group in self.groups.values():
            if not group.load():
                fatal = [n for n in group.names if settings.scanners.get(n).fallback == "none"]
                if fatal:
                    raise ModelUnavailable(f"{', '.join(fatal)}: {group.error}")
        if self.groups and settings.models.cache_enabled:
            from llm_shield.models.cache import ResultCache

            self.cache = ResultCache(
                settings.cache_dir,
                ttl_seconds=settings.models.cache_ttl_seconds,
                size_mb=settings.models.cache_size_mb,
            )

    def describe(self) -> dict[str, str]:
        """Per scanner, what actually answers now: for the start-up line a person reads."""
        if self.custom is not None:
            return dict.fromkeys(self.names, "custom")
        out = {}
        for name in self.names:
            options = self.settings.scanners.get(name)
            if options.mode == "heuristic":
                out[name] = "heuristic"
                continue
            group = self.groups[(options.model, options.variant)]
            out[name] = options.mode if group.classifier is not None else "heuristic_fallback"
        return out

    def model_refs(self) -> list[str]:
        return sorted({g.ref for g in self.groups.values() if g.classifier is not None})

    # ------------------------------------------------------------------------------- scanning

    def scan(
        self,
        texts: Sequence[str],
        kinds: Sequence[str] | None = None,
        scanners: ScannersSettings | None = None,
        *,
        documents: bool = True,
        only: Sequence[str] | None = None,
    ) -> dict[str, list[ScanResult]]:
        """Every enabled scanner's result per text; ``kinds`` (prompt / response) choose the
        thresholds and whether documents are also read sentence by sentence. ``scanners``
        replaces the configured thresholds and modes (a tenant's policy); the models stay.
        ``documents=False`` takes the kinds as given: already read with ``read_as`` (the
        pipeline reads them once a batch), or a conversation's joined prompts, which stay
        prompts whatever their length (their threshold was chosen on whole-text scores).
        ``only`` limits the scanners that run (a joined text needs the injection scanner's)."""
        kinds = list(kinds) if kinds is not None else ["prompt"] * len(texts)
        if documents:
            kinds = self.read_as(texts, kinds)
        scanners = scanners if scanners is not None else self.settings.scanners
        wanted = [name for name in self.names if only is None or name in only]
        if self.custom is not None:
            return {name: self.custom[name].scan_batch(texts) for name in wanted}
        filled = [i for i, text in enumerate(texts) if text.strip()]
        if len(filled) < len(texts):  # blank texts are allowed as they are, without a model
            inner = self.scan(
                [texts[i] for i in filled],
                [kinds[i] for i in filled],
                scanners,
                documents=False,
                only=wanted,
            )
            out = {name: [self._blank(name)] * len(texts) for name in wanted}
            for name in wanted:
                for position, i in enumerate(filled):
                    out[name][i] = inner[name][position]
            return out
        heuristic = _Lazy(lambda name: self._heuristic_results(name, texts))
        out: dict[str, list[ScanResult]] = {}
        for group in self.groups.values():
            names = [n for n in group.names if n in wanted and scanners.get(n).mode != "heuristic"]
            if names:
                out.update(self._scan_group(group, names, texts, kinds, heuristic, scanners))
        for name in wanted:
            if name not in out:
                out[name] = heuristic[name]
            elif name in _BINARY:
                out[name] = self._judge(name, texts, kinds, out[name], heuristic, scanners)
        if "prompt_injection" in out and "toxicity" in out:
            out["prompt_injection"] = beside_toxicity(
                out["prompt_injection"], out["toxicity"], kinds, scanners
            )
        return {name: out[name] for name in wanted}

    def _blank(self, name: str) -> ScanResult:
        label, scores = _BLANK[name]
        return ScanResult(
            score=1.0 if scores else 0.0,
            label=label,
            risk=0.0,
            method="heuristic",
            scores=scores,
            reason="empty text",
        )

    def model_response_threshold(self, name: str) -> float | None:
        """The response operating point the scanner's model recorded at its build (None when
        it records none or no model is loaded): the default for kind=response texts, so that a
        rebuild that moves the point moves the default with it."""
        options = self.settings.scanners.get(name)
        group = self.groups.get((options.model, options.variant))
        if group is None or group.resolved is None:
            return None
        output = group.resolved.entry.outputs.get(name)
        return output.response_threshold if output is not None else None

    def _judge(
        self,
        name: str,
        texts: Sequence[str],
        kinds: Sequence[str],
        results: list[ScanResult],
        heuristic: _Lazy,
        scanners: ScannersSettings,
    ) -> list[ScanResult]:
        """The threshold each text is judged by: responses have their own, a short everyday
        turn ("ok", "continue") needs pattern evidence or a very confident model to be flagged,
        and so does an operator's command for toxicity ("kill the process on port 8080").

        The response threshold is the model's operating point on documents (read sentence by
        sentence, where every window is another chance of a stray high score); pattern evidence
        is not on that scale, so it is judged by the scanner's own threshold whatever the kind.
        Judged by the response threshold, the patterns' hits on the tuning documents lost 8 of
        153 planted instructions (recall 0.84 -> 0.79) and spared none of the 159 benign ones."""
        options = scanners.get(name)
        short_words = self.settings.models.short_text_words
        positive, negative = _BINARY[name]
        response_threshold = options.response_threshold
        if response_threshold is None:
            response_threshold = self.model_response_threshold(name)
        if response_threshold is None:
            response_threshold = options.threshold
        judged = []
        for i, result in enumerate(results):
            threshold = response_threshold if kinds[i] == "response" else options.threshold
            reason = None
            if threshold != options.threshold:
                if result.method in ("heuristic", "heuristic_fallback"):
                    threshold = options.threshold
                elif options.mode == "ensemble" and result.risk < threshold:
                    evidence = heuristic[name][i]
                    if evidence.risk >= options.threshold:
                        reason = (
                            f"patterns: {', '.join(evidence.matched)} "
                            f"(model {result.risk:.2f} < {threshold:.2f})"
                        )
                        result = evidence.evolve(windows=result.windows)
                        threshold = options.threshold
            words = len(texts[i].split())
            if result.method in ("ml", "cache") and words <= short_words:
                evidence = heuristic[name][i]
                if evidence.matched and evidence.risk >= threshold:
                    reason = f"short text; patterns: {', '.join(evidence.matched)}"
                    result = result.evolve(matched=evidence.matched)
                else:
                    threshold = max(threshold, options.short_text_threshold)
                    reason = (
                        f"short text ({words} words): model score {result.risk:.2f} >= "
                        f"{threshold:.2f}"
                    )
            bar = scanners.toxicity.technical_text_threshold
            if (
                name == "toxicity"
                and result.risk >= threshold
                and bar > threshold
                and result.method in ("ml", "cache")
                and not result.matched
                and (command := technical_command(texts[i])) is not None
                and not heuristic[name][i].matched  # last: in ml mode this runs the patterns
            ):
                threshold = bar
                reason = f"operator's command '{command}': model score >= {bar:.2f}"
            flagged = result.risk >= threshold
            label = positive if flagged else negative
            own = threshold if threshold != options.threshold else None
            reason = reason if flagged else None
            if (label, own, reason) != (result.label, result.threshold, result.reason):
                result = result.evolve(label=label, threshold=own, reason=reason)
            judged.append(result)
        return judged

    def _heuristic_results(self, name: str, texts: Sequence[str]) -> list[ScanResult]:
        """The heuristic's results, from the result cache where it has them: on a repeated text
        the patterns cost more than the model's cached scores (ensemble mode runs both)."""
        scanner = self.heuristics[name]
        if self.cache is None:
            return scanner.scan_batch(texts)
        from llm_shield.models.cache import exact_key

        threshold = self.settings.scanners.get(name).threshold
        namespace = f"heuristic/{name}@{HEURISTICS_VERSION}:{threshold}"
        keys = [exact_key(namespace, text) for text in texts]
        results: list[ScanResult | None] = self.cache.get_many(keys, _result_from_json)
        missing = [i for i, result in enumerate(results) if result is None]
        if missing:
            fresh = scanner.scan_batch([texts[i] for i in missing])
            for i, result in zip(missing, fresh, strict=True):
                results[i] = result
            self.cache.set_many(
                [(keys[i], _result_to_json(r)) for i, r in zip(missing, fresh, strict=True)],
                remembered=fresh,
            )
        return results  # type: ignore[return-value]

    def read_as(self, texts: Sequence[str], kinds: Sequence[str]) -> list[str]:
        """The kind each text is scanned as: a prompt of more than ``models.document_words``
        words is read as a document (sentence windows, the response threshold), since a
        document pasted into a prompt is what a response threshold is chosen for."""
        limit = self.settings.models.document_words
        return [
            "response" if limit and kind == "prompt" and len(text.split()) > limit else kind
            for text, kind in zip(texts, kinds, strict=True)
        ]

    def sentence_windows(self, kinds: Sequence[str]) -> list[bool]:
        """Per text, whether it is also read sentence by sentence (``models.sentence_windows``)."""
        mode = self.settings.models.sentence_windows
        return [mode == "all" or (mode == "responses" and kind == "response") for kind in kinds]

    def _scan_group(
        self,
        group: ModelGroup,
        names: list[str],
        texts: Sequence[str],
        kinds: Sequence[str],
        heuristic: _Lazy,
        scanners: ScannersSettings,
    ) -> dict[str, list[ScanResult]]:
        settle = self.settings.models.hybrid_settle_score
        need = np.zeros(len(texts), dtype=bool)
        for name in names:
            if scanners.get(name).mode != "hybrid":
                need[:] = True
                continue
            mask = np.array([r.risk < settle for r in heuristic[name]], dtype=bool)
            self.stats.prefilter_settled += int((~mask).sum())
            self.stats.prefilter_passed += int(mask.sum())
            need |= mask
        indices = [i for i in range(len(texts)) if need[i]]
        sentences = self.sentence_windows(kinds)
        scores: dict[int, ModelScores] = {}
        if indices and group.ready():
            try:
                scores = self._model_scores(
                    group, [texts[i] for i in indices], [sentences[i] for i in indices], indices
                )
            except Exception as exc:  # noqa: BLE001 - any runtime failure must degrade, not stop
                log.exception("model %s failed on a batch of %d", group.ref, len(indices))
                group.fail(exc)
                scores = {}
        results: dict[str, list[ScanResult]] = {}
        for name in names:
            mode = scanners.get(name).mode
            threshold = scanners.get(name).threshold
            if mode == "ml" and len(scores) == len(texts):  # the common case: no heuristics run
                results[name] = [
                    self._result(group, name, scores[i], threshold) for i in range(len(texts))
                ]
                continue
            merged = []
            for i, h in enumerate(heuristic[name]):
                if mode == "hybrid" and h.risk >= settle:
                    merged.append(h)  # the prefilter settled it; the model never saw it
                elif i not in scores:
                    self.stats.fallbacks += 1
                    merged.append(h.evolve(method="heuristic_fallback"))
                elif mode == "ensemble":
                    m = self._result(group, name, scores[i], threshold)
                    if m.risk >= h.risk and not h.matched:
                        merged.append(m)  # the usual case: no pattern matched, nothing to add
                    else:
                        best = m if m.risk >= h.risk else h
                        merged.append(best.evolve(matched=h.matched, windows=m.windows))
                else:
                    merged.append(self._result(group, name, scores[i], threshold))
            results[name] = merged
        return results

    def _model_scores(
        self, group: ModelGroup, texts: list[str], sentences: list[bool], indices: list[int]
    ) -> dict[int, ModelScores]:
        from llm_shield.models.cache import text_key

        namespaces = {False: group.cache_namespace, True: group.cache_namespace + "+sentences"}
        keys = [text_key(namespaces[s], t) for t, s in zip(texts, sentences, strict=True)]
        unique = list(dict.fromkeys(keys))  # a text repeated in a batch is scored once
        cached = (
            self.cache.get_many(unique, _scores_from_json)
            if self.cache is not None
            else [None] * len(unique)
        )
        found: dict[str, ModelScores] = {
            key: scores for key, scores in zip(unique, cached, strict=True) if scores is not None
        }
        missing = [key for key in unique if key not in found]
        if missing:
            assert group.classifier is not None
            first = {key: i for i, key in reversed(list(enumerate(keys)))}
            prediction = group.classifier.run(
                [texts[first[key]] for key in missing], [sentences[first[key]] for key in missing]
            )
            self.stats.model_calls += 1
            self.stats.model_rows += len(missing)
            fresh = []
            for row, key in enumerate(missing):
                probabilities = {
                    task: [float(x) for x in values[row]]
                    for task, values in prediction.probabilities.items()
                }
                spans = {
                    task: list(values[row]) if values[row] is not None else None
                    for task, values in prediction.spans.items()
                }
                windows = prediction.windows[row]
                found[key] = ModelScores(probabilities, windows, False, spans)
                fresh.append((key, {"p": probabilities, "w": windows, "s": spans}))
            if self.cache is not None:
                remembered = [
                    ModelScores(value["p"], value["w"], True, value["s"]) for _key, value in fresh
                ]
                self.cache.set_many(fresh, remembered=remembered)
        out: dict[int, ModelScores] = {}
        for index, key in zip(indices, keys, strict=True):
            out[index] = found[key]
            if found[key].cached:
                self.stats.cache_hits += 1
            else:
                self.stats.cache_misses += 1
        return out

    def _result(
        self, group: ModelGroup, name: str, scores: ModelScores, threshold: float
    ) -> ScanResult:
        if not scores.cached:
            return self._build_result(group, name, scores, threshold)
        key = (group.ref, name, threshold)
        built = scores.built.get(key)
        if built is None:
            built = scores.built[key] = self._build_result(group, name, scores, threshold)
        return built

    def _build_result(
        self, group: ModelGroup, name: str, scores: ModelScores, threshold: float
    ) -> ScanResult:
        output = group.outputs[name]
        probabilities = scores.probabilities[name]
        method = "cache" if scores.cached else "ml"
        if name == "sentiment":
            by_label = dict(zip(output.labels, probabilities, strict=True))
            label = max(by_label, key=by_label.__getitem__)
            return ScanResult(
                score=by_label[label],
                label=label,
                risk=by_label.get(output.positive, 0.0),
                method=method,
                model=group.ref,
                scores=by_label,
                windows=scores.windows,
            )
        assert output.positive_index is not None
        risk = probabilities[output.positive_index]
        span = scores.spans.get(name)
        return ScanResult(
            score=risk,
            label=output.positive if risk >= threshold else output.negative,
            risk=risk,
            method=method,
            model=group.ref,
            windows=scores.windows,
            span=(span[0], span[1]) if span else None,
        )


_BINARY = {"prompt_injection": ("INJECTION", "SAFE"), "toxicity": ("TOXIC", "NON_TOXIC")}


def beside_toxicity(
    injection: Sequence[ScanResult],
    toxicity: Sequence[ScanResult],
    kinds: Sequence[str],
    scanners: ScannersSettings,
) -> list[ScanResult]:
    """The injection results judged beside the toxicity results of the same prompts: where
    toxicity flags a prompt with a score of at least ``toxic_text_threshold`` and the injection
    score is the model's alone (no pattern matched), that score must reach the same bar.

    The model's injection head also rises on insults and threats aimed at the reader: on the
    tuning prompts, 59 of the toxicity sets' texts were flagged as injections too (scores
    0.50-0.99); this takes the flag from 48 of them and from none of the 1,888 flagged tuning
    attacks (a bar on the injection score alone also took it from two attacks that toxicity
    scored 0.76 and 0.80). Documents keep their own threshold, and an injection the patterns
    found keeps the scanner's."""
    options = scanners.prompt_injection
    bar = options.toxic_text_threshold
    tox_threshold = scanners.toxicity.threshold
    out = list(injection)
    if bar <= 0.0:
        return out
    positive, negative = _BINARY["prompt_injection"]
    for i, (result, toxic) in enumerate(zip(injection, toxicity, strict=True)):
        if kinds[i] != "prompt" or result.matched or result.method not in ("ml", "cache"):
            continue
        if not is_flagged(toxic, tox_threshold) or toxic.risk < bar:
            continue
        own = result.threshold if result.threshold is not None else options.threshold
        if own >= bar:
            continue
        flagged = result.risk >= bar
        reason = result.reason or f"toxic text: model score {result.risk:.2f} >= {bar:.2f}"
        out[i] = result.evolve(
            label=positive if flagged else negative,
            threshold=bar,
            reason=reason if flagged else None,
        )
    return out
