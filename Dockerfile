# onesme-bot: the bot, its HTTP server (webhook, VNPT Pay IPN and return page, health, metrics).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HTTP_HOST=0.0.0.0 \
    HTTP_PORT=8080 \
    DATABASE_URL=sqlite+aiosqlite:////data/onesme.db

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY conversations ./conversations
COPY domain ./domain
COPY payments ./payments
COPY storage ./storage
COPY sandbox ./sandbox
COPY catalog.sample.yaml ./
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /data --create-home onesme

USER onesme
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"HTTP_PORT\", \"8080\")}/healthz', timeout=4)"

# BOT_TOKEN and the VNPTPAY_* keys come from the environment at run time, never the image.
ENTRYPOINT ["onesme-bot"]
CMD ["run"]
