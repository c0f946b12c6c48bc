# The llm-shield worker. Build: docker build -t llm-shield-stream .
FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY models ./models
COPY registry ./registry
COPY ops ./ops
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 10001 shield
USER shield
ENV LLM_SHIELD_BROKER=kafka:29092
ENTRYPOINT ["llm-shield"]
CMD ["worker"]
