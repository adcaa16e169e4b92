# SkyPost web app (REST API, admin panel, QR pickup) served by gunicorn.
# Build from the repository root:  docker build -f docker/web.Dockerfile -t skypost-web .
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN useradd --create-home --uid 10001 skypost
WORKDIR /opt/skypost
COPY web/ web/
COPY config/world.yaml config/world.yaml
RUN pip install ./web gunicorn psycopg2-binary
USER skypost
EXPOSE 8080
CMD ["gunicorn", "--bind", "0.0.0.0:8080", "--workers", "4", "--access-logfile", "-", "skypost_web.wsgi:app"]
