# Prism: one image for the web server (uvicorn), the Celery worker and Celery beat.
# docker-compose.yml picks the process with `command:`; the default is the web server.

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=8000

WORKDIR /app

# Dependencies first, so that code changes reuse this layer.
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt

COPY . .

# Static files are collected into the image (served by WhiteNoise). Settings are
# imported for this, so give them throwaway values: none of these reach run time.
ARG COLLECTSTATIC_SECRET_KEY=collectstatic-build-only-not-a-secret
RUN SECRET_KEY="$COLLECTSTATIC_SECRET_KEY" \
    PRISM_ENCRYPTION_KEYS="$(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
    DEBUG=off \
    ALLOWED_HOSTS=localhost \
    python manage.py collectstatic --noinput

# The code stays root-owned and read-only to the process; only var/ is writable.
RUN groupadd --system --gid 10001 prism \
    && useradd --system --uid 10001 --gid prism --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin prism \
    && mkdir -p /app/var \
    && chown prism:prism /app/var
USER prism

EXPOSE 8000

# WEB_CONCURRENCY web processes share the port (more than 1 needs REDIS_URL: the services mode).
CMD ["sh", "-c", "exec uvicorn config.asgi:application --host 0.0.0.0 --port \"${PORT:-8000}\" --workers \"${WEB_CONCURRENCY:-1}\" --ws websockets-sansio"]
