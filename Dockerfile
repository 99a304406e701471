# Sayso for production: HTTP mode behind a load balancer (see docs/operations.md).
#   docker build -t sayso .
#   docker run --env-file .env -p 3000:3000 -v sayso-data:/data sayso
# The database is DATABASE_URL: by default a SQLite file in the /data volume; for a team,
# PostgreSQL (compose.yaml). `sayso serve` brings the schema up to date before it serves.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/sayso
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot/ bot/
COPY handlers/ handlers/
COPY templates/ templates/
RUN /opt/sayso/bin/pip install --no-cache-dir .

FROM python:3.11-slim
RUN groupadd --system --gid 10001 sayso \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home sayso \
    && mkdir /data \
    && chown sayso:sayso /data
COPY --from=build /opt/sayso /opt/sayso
ENV PATH=/opt/sayso/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PORT=3000 \
    DATABASE_URL=sqlite:////data/sayso.db
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 3000
# /healthz answers {"ok": true} while the database is reachable. Socket Mode (SLACK_APP_TOKEN
# set) listens on no port, so there is nothing to ask: healthy while the process runs.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import json, os, sys, urllib.request as web; port = os.environ.get('PORT') or '3000'; sys.exit(0 if os.environ.get('SLACK_APP_TOKEN') or json.load(web.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4)).get('ok') else 1)"]
CMD ["sayso", "serve"]
