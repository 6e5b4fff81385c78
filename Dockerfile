# trading-system-engine: slim Python image, dependencies from setup.cfg, non-root user.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ENVIRONMENT=docker

WORKDIR /app

# Dependencies first, read from setup.cfg, so this layer is reused while only the code changes.
COPY setup.cfg pyproject.toml ./
RUN python -c "import configparser; c = configparser.ConfigParser(); c.read('setup.cfg'); \
print(c['options']['install_requires'])" > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

COPY README.md config.yml ./
COPY trading_engine ./trading_engine
RUN pip install --no-deps . \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin engine \
 && mkdir -p /app/data/archive \
 && chown -R engine:engine /app/data

USER engine

EXPOSE 8083
EXPOSE 50053

HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-m", "trading_engine.healthcheck"]

CMD ["trading-engine"]
