"""Prometheus metrics for the worker, read from the pipeline's own counters at scrape time.

The pipeline stays pure (it only counts); this edge module turns those counts into Prometheus
families and adds the two histograms only the worker sees (batch size, batch latency). Off by
default (``metrics_port = 0``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from llm_shield.streams.errors import ConfigError
from llm_shield.streams.pipeline import Pipeline

log = logging.getLogger(__name__)


class PipelineCollector(Collector):
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        stats = self.pipeline.stats
        scans = self.pipeline.scanners.stats
        events = CounterMetricFamily(
            "llm_shield_events", "Valid input events scanned, by decision", labels=["decision"]
        )
        for decision, count in stats.decisions.items():
            events.add_metric([decision], count)
        yield events
        dead = CounterMetricFamily(
            "llm_shield_dead_letters", "Inputs dead-lettered, by reason", labels=["reason"]
        )
        for reason, count in stats.dead_letter_reasons.items():
            dead.add_metric([reason], count)
        yield dead
        flagged = CounterMetricFamily(
            "llm_shield_flagged", "Scanner flags raised, by scanner", labels=["scanner"]
        )
        for scanner, count in stats.flagged_by_scanner.items():
            flagged.add_metric([scanner], count)
        yield flagged
        yield CounterMetricFamily("llm_shield_batches", "Batches processed", value=stats.batches)
        seconds = CounterMetricFamily(
            "llm_shield_pipeline_seconds",
            "Seconds spent scanning batches (part=scan), and the parts of it that context adds "
            "(policies, joined, conversations, stats)",
            labels=["part"],
        )
        for part, value in stats.seconds.items():
            seconds.add_metric([part], value)
        yield seconds
        cache = CounterMetricFamily(
            "llm_shield_cache_lookups", "Result-cache lookups", labels=["result"]
        )
        cache.add_metric(["hit"], scans.cache_hits)
        cache.add_metric(["miss"], scans.cache_misses)
        yield cache
        prefilter = CounterMetricFamily(
            "llm_shield_prefilter_decisions",
            "Hybrid-mode heuristic prefilter outcomes (settled = model skipped)",
            labels=["outcome"],
        )
        prefilter.add_metric(["settled"], scans.prefilter_settled)
        prefilter.add_metric(["passed"], scans.prefilter_passed)
        yield prefilter
        yield CounterMetricFamily("llm_shield_model_calls", "Model runs", value=scans.model_calls)
        yield CounterMetricFamily(
            "llm_shield_model_rows", "Texts scored by a model", value=scans.model_rows
        )
        yield CounterMetricFamily(
            "llm_shield_fallbacks", "Scores answered by heuristic_fallback", value=scans.fallbacks
        )
        cache_store = self.pipeline.scanners.cache
        if cache_store is not None:
            yield GaugeMetricFamily(
                "llm_shield_cache_entries",
                "Entries in the result cache",
                value=cache_store.entries(),
            )
            yield GaugeMetricFamily(
                "llm_shield_cache_bytes",
                "Bytes used by the result cache",
                value=cache_store.size_bytes(),
            )
            yield CounterMetricFamily(
                "llm_shield_cache_dropped",
                "Result-cache entries dropped by size-limit eviction or TTL expiry",
                value=cache_store.dropped(),
            )
        yield CounterMetricFamily(
            "llm_shield_escalations",
            "Turns whose conversation was escalated (joined prompts or rolling risk)",
            value=stats.escalations,
        )
        conversations = self.pipeline.conversations
        if conversations is not None:
            yield GaugeMetricFamily(
                "llm_shield_conversations", "Conversations held in state", value=len(conversations)
            )
            yield GaugeMetricFamily(
                "llm_shield_conversation_state_bytes",
                "Serialised size of the conversation states held",
                value=conversations.held_bytes(),
            )
        policies = self.pipeline.policies
        if policies is not None:
            yield GaugeMetricFamily(
                "llm_shield_tenant_policies",
                "Tenants with a policy in force",
                value=len(policies.snapshot()),
            )
            records = CounterMetricFamily(
                "llm_shield_policy_records",
                "Records read from the policies topic, applied or refused as invalid",
                labels=["result"],
            )
            records.add_metric(["applied"], policies.applied)
            records.add_metric(["refused"], policies.refused)
            yield records
        loaded = GaugeMetricFamily(
            "llm_shield_model_loaded", "1 when the model is loaded and verified", labels=["model"]
        )
        for group in self.pipeline.scanners.groups.values():
            loaded.add_metric([group.ref], 1.0 if group.classifier is not None else 0.0)
        yield loaded


class WorkerMetrics:
    """The worker's metrics registry; ``start()`` serves it on ``host:port``."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(PipelineCollector(pipeline))
        self.batch_size = Histogram(
            "llm_shield_batch_size",
            "Records per batch taken from Kafka",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
            registry=self.registry,
        )
        self.batch_latency = Histogram(
            "llm_shield_batch_latency_seconds",
            "Pipeline processing time per batch",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )

        self.replies_refused = Counter(
            "llm_shield_replies_refused",
            "Reply-to headers ignored because they named a topic outside the reply prefix",
            registry=self.registry,
        )

    def reply_refused(self, topic: str) -> None:
        self.replies_refused.inc()

    def observe_batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.batch_latency.observe(seconds)

    def start(self, port: int, host: str) -> None:
        serve_metrics(self.registry, port, host)


class GatewayMetrics:
    """The HTTP gateway's metrics; ``start()`` serves them on ``host:port``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "llm_shield_http_requests",
            "HTTP requests answered, by path and status",
            labelnames=["path", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "llm_shield_http_request_seconds",
            "Time to answer an HTTP request (checks: until the verdict came back)",
            labelnames=["path"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )

    def observe(self, path: str, status: int, seconds: float) -> None:
        known = path if path in ("/v1/check", "/v1/check/batch", "/healthz", "/readyz") else "other"
        self.requests.labels(known, str(status)).inc()
        self.latency.labels(known).observe(seconds)

    def start(self, port: int, host: str) -> None:
        serve_metrics(self.registry, port, host)


def serve_metrics(registry: CollectorRegistry, port: int, host: str) -> None:
    """The Prometheus endpoint; a port already taken is one clear error, not a traceback."""
    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise ConfigError(
            f"metrics_port: cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from None
    log.warning("metrics on http://%s:%d/metrics", host, port)
