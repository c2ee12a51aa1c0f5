# syntax=docker/dockerfile:1
# The Familienkarte image: one image for every process (web, worker, beat, migrations), chosen by the command:
#   docker run IMAGE serve | worker | beat | db upgrade
# docker-compose.yml shows a whole deployment. The image runs in production mode: FK_SECRET_KEY, FK_DATABASE_URL
# and FK_REDIS_URL must be given (see the README's table of settings).

ARG PYTHON_IMAGE=python:3.11-slim
ARG NODE_IMAGE=node:22-slim

# -- front-end libraries, exactly as locked in package-lock.json ------------------------------------------------
FROM ${NODE_IMAGE} AS frontend
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts --omit=dev

# -- the Python environment, exactly as locked in uv.lock ---------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build
# The same uv as the Makefile (UV_VERSION), from PyPI.
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
# Dependencies first: a change to the code does not reinstall them.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project
COPY README.md alembic.ini ./
COPY migrations ./migrations
COPY workers ./workers
COPY partner_portal ./partner_portal
COPY familienkarte ./familienkarte
# The project itself, installed in place: the service finds its templates, catalogues and migrations under /app.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev

# -- the image that runs ------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
# procps for the beat container's health check (pgrep).
RUN apt-get update \
    && apt-get install --yes --no-install-recommends procps \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 familienkarte \
    && useradd --system --uid 10001 --gid familienkarte --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin familienkarte
ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FK_ENV=production \
    FK_HOST=0.0.0.0 \
    FK_PORT=8000 \
    FK_DATA_DIR=/app/var
WORKDIR /app
COPY --from=build /app /app
# Served at /static/vendor/swagger-ui for the interactive API page at /schema.
COPY --from=frontend /app/node_modules/swagger-ui-dist /app/node_modules/swagger-ui-dist
COPY --from=frontend /app/node_modules/qrcode-generator/dist /app/node_modules/qrcode-generator/dist
COPY --from=frontend /app/node_modules/leaflet/dist /app/node_modules/leaflet/dist
COPY --from=frontend /app/node_modules/leaflet.markercluster/dist /app/node_modules/leaflet.markercluster/dist
COPY --from=frontend /app/node_modules/barcode-detector/dist /app/node_modules/barcode-detector/dist
COPY --from=frontend /app/node_modules/zxing-wasm/dist/reader /app/node_modules/zxing-wasm/dist/reader
RUN mkdir -p /app/var && chown familienkarte:familienkarte /app/var
USER familienkarte
EXPOSE 8000
# For the web process; docker-compose.yml gives the worker and beat checks of their own.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('FK_PORT', '8000') + '/health/live', timeout=4)"]
ENTRYPOINT ["familienkarte"]
CMD ["serve"]
