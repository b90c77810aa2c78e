# onesme-bot: the bot and its HTTP server (webhook, VNPT Pay IPN and return page, health, metrics).
# Two stages: the first builds a wheel and installs it with its dependencies into a virtual
# environment; the second copies only that environment into a clean image and runs as a user
# without privileges. Secrets (BOT_TOKEN, WEBHOOK_SECRET, VNPTPAY_*) come from the environment
# at run time, never from the image.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY conversations ./conversations
COPY domain ./domain
COPY payments ./payments
COPY storage ./storage
COPY sandbox ./sandbox
RUN /opt/venv/bin/pip install .

FROM python:3.11-slim AS run
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    HTTP_HOST=0.0.0.0 \
    HTTP_PORT=8080 \
    DATABASE_URL=sqlite+aiosqlite:////data/onesme.db
RUN useradd --system --uid 10001 --user-group --home-dir /data --create-home onesme
COPY --from=build /opt/venv /opt/venv
# an example catalog; production mounts its own and points CATALOG_FILE at it
COPY catalog.sample.yaml /app/catalog.sample.yaml
WORKDIR /data
USER onesme:onesme
VOLUME ["/data"]
EXPOSE 8080
# /healthz: the process is up. The load balancer should route by /readyz (503 while draining).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"HTTP_PORT\", \"8080\")}/healthz', timeout=4)"
# SIGTERM drains: readyz turns 503, the updates in hand finish, then the process exits.
STOPSIGNAL SIGTERM
ENTRYPOINT ["onesme-bot"]
CMD ["run"]
