# GliomaLens images. CPU (default target `cpu`):  docker build -t gliomalens .
# GPU worker:  docker build --target gpu -t gliomalens-gpu .   (needs the NVIDIA container toolkit)
# The same image runs the web tier (default command) or a worker (see docker-compose.yml).
FROM python:3.11-slim-bookworm AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FLASK_APP=wsgi \
    INSTANCE_PATH=/data/instance \
    GUNICORN_BIND=0.0.0.0:8000
RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /srv/gliomalens
COPY requirements.txt package.json package-lock.json ./
RUN pip install -r requirements.txt && npm ci --no-audit --no-fund
COPY . .
RUN scripts/build_static.sh && useradd --create-home --uid 10001 gliomalens \
    && mkdir -p /data && chown gliomalens /data
USER gliomalens
VOLUME ["/data"]
EXPOSE 8000

FROM base AS cpu
CMD ["sh", "-c", "flask db upgrade && flask users ensure-admin && exec gunicorn -c gunicorn.conf.py wsgi:app"]

FROM base AS gpu
USER root
# TensorFlow's CUDA libraries come as pip packages; the host needs only the NVIDIA driver.
RUN pip install "tensorflow[and-cuda]==2.21.0"
USER gliomalens
CMD ["celery", "-A", "app.celery_worker", "worker", "--pool", "prefork", "--concurrency", "1", "-Q", "inference", "--loglevel", "INFO"]
