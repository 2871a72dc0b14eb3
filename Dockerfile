# githeal service image: `docker run -v /etc/githeal:/config githeal run --config /config/githeal.yaml`
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY templates ./templates
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
# git is the bot's memory and its write path; openssh-client for ssh remotes and ssh commit signing.
RUN apt-get update && apt-get install -y --no-install-recommends git openssh-client ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 githeal
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
COPY templates /app/templates
COPY config /app/config
ENV GITHEAL_TEMPLATES=/app/templates
USER githeal
WORKDIR /home/githeal
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8080/healthz'); sys.exit(0)"
ENTRYPOINT ["githeal"]
CMD ["run", "--config", "/app/config/example.yaml"]
