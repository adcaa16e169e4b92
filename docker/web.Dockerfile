# SkyPost web app (REST API, admin panel, QR pickup) served by gunicorn; `skypost-web worker` runs the outbox
# dispatcher from the same image. Build from the repository root:
#   docker build -f docker/web.Dockerfile -t skypost-web .

# roslibjs for the admin panel, as web/package-lock.json pins it
FROM node:20-bookworm-slim AS assets
WORKDIR /assets
COPY web/package.json web/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM python:3.11-slim-bookworm
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    WEB_CONCURRENCY=4 PROMETHEUS_MULTIPROC_DIR=/tmp/skypost-metrics
RUN useradd --create-home --uid 10001 skypost
WORKDIR /opt/skypost
COPY requirements/constraints.txt requirements/constraints.txt
COPY web/pyproject.toml web/pyproject.toml
COPY web/skypost_web web/skypost_web
# Editable: the app runs from /opt/skypost/web as from a checkout, so the admin panel finds web/node_modules
# and the default world file is /opt/skypost/config/world.yaml (a site mounts its own: SKYPOST_WORLD_FILE)
RUN pip install -c requirements/constraints.txt -e ./web
COPY --from=assets /assets/node_modules/roslib/build web/node_modules/roslib/build
COPY config/world.yaml config/world.yaml
COPY docker/gunicorn.conf.py gunicorn.conf.py
USER 10001
EXPOSE 8080
CMD ["gunicorn", "--config", "/opt/skypost/gunicorn.conf.py", "--bind", "0.0.0.0:8080", "skypost_web.wsgi:app"]
