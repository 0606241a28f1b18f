# syntax=docker/dockerfile:1
# Axiom image: one image for every role. The role is the command:
#   docker run IMAGE            -> `axiom up` (embedded: SQLite + filesystem broker under /data)
#   docker run IMAGE listen     -> C-STORE SCP only;  worker | gpu-worker | beat | api | flower | db upgrade ...
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/axiom
WORKDIR /src
COPY . .
# Optional extras of the package, comma-separated ("" for none). flower is needed by `axiom flower`;
# gcs and healthcare by those destination types (docs/destinations.md); jpeg decodes lossless and
# 12-bit JPEG (BSD; docs/operations.md#decoders). Never jpeg-gpl: the image is distributed.
ARG EXTRAS=flower,gcs,healthcare,jpeg
# requirements.lock (scripts/lock.sh) pins every package of the default EXTRAS: a rebuild of a release
# installs the same versions. Other extras (gpu) are resolved within those pins.
RUN /opt/axiom/bin/pip install -c requirements.lock ".${EXTRAS:+[$EXTRAS]}"

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/axiom/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    AXIOM_DATA_DIR=/data \
    AXIOM_API_HOST=0.0.0.0
RUN groupadd --system --gid 10001 axiom \
    && useradd --system --uid 10001 --gid axiom --create-home --home-dir /home/axiom \
       --shell /usr/sbin/nologin axiom \
    && mkdir -p /data \
    && chown axiom:axiom /data
COPY --from=build /opt/axiom /opt/axiom
USER 10001:10001
WORKDIR /home/axiom
VOLUME ["/data"]
# 11112: DICOM C-STORE SCP (AXIOM_DICOM_PORT); 8080: HTTP API (AXIOM_API_PORT).
EXPOSE 11112 8080
# Liveness of the API (the `up` and `api` roles). Roles without an API override this
# (docker-compose.yml, the Helm chart's probes). slim has no curl: use python.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:' + os.environ.get('AXIOM_API_PORT', '8080') + '/health', timeout=4)"]
ENTRYPOINT ["axiom"]
CMD ["up"]
