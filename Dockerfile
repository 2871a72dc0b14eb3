# githeal service image. Build: docker build -t githeal .
# Run:   docker run -v $PWD/config.yaml:/etc/githeal/config.yaml:ro -v githeal-data:/var/lib/githeal githeal
# The base image is pinned by digest; refresh both together with
#   docker buildx imagetools inspect python:3.11-slim-bookworm
ARG PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY bot ./bot
COPY templates ./templates
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
# git is the bot's memory and its write path; openssh-client for ssh remotes and ssh commit signing;
# tini as PID 1 forwards SIGTERM to githeal (which stops between cycles) and reaps git/ssh children.
RUN apt-get update && apt-get install -y --no-install-recommends git openssh-client ca-certificates tini \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 10001 --user-group --no-create-home --home-dir /var/lib/githeal --shell /usr/sbin/nologin githeal \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/githeal \
    && install -d -m 0755 /etc/githeal
COPY requirements/githeal.lock deploy/image/install.sh /tmp/install/
COPY --from=build /wheels /tmp/install/wheels
RUN sh /tmp/install/install.sh /opt/githeal /tmp/install/githeal.lock /tmp/install/wheels/*.whl \
    && rm -rf /tmp/install
# Read-only root filesystem: nothing below writes outside /var/lib/githeal (clones, git's HOME) and /tmp.
ENV PATH=/opt/githeal/bin:$PATH \
    HOME=/var/lib/githeal \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /var/lib/githeal
VOLUME ["/var/lib/githeal"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
ENTRYPOINT ["/usr/bin/tini", "--", "githeal"]
# /etc/githeal/config.yaml is where the deploy/ ConfigMap is mounted; its repos set workdir under /var/lib/githeal.
CMD ["run", "--config", "/etc/githeal/config.yaml"]
