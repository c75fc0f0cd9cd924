# syntax=docker/dockerfile:1
# check=error=true

# Every Springhead image: the service is the build argument SERVICE, its folder in the workspace.
# From the repository root (`make images` builds them all this way):
#   podman build --format docker --build-arg SERVICE=sources/ping -t springhead-ping .
#   docker build --build-arg SERVICE=sources/ping -t springhead-ping .
# (podman needs --format docker to keep the HEALTHCHECK.) examples/feed/Dockerfile is this file
# with SERVICE defaulting to examples/feed, for a custom source's author to copy
# (tests/images checks that the two stay the same).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9
ARG SERVICE=sources/ping

FROM ${UV_IMAGE} AS uv

# --- builder: uv installs exactly this service's locked dependency closure into /app/.venv ---
FROM ${PYTHON_IMAGE} AS builder
# binutils' strip, for the debug information some wheels leave in their extension modules (uvloop's
# is 13 MB with it, 2 MB without). Before ARG SERVICE: one layer serves every service's build.
RUN apt-get update && \
    apt-get install --yes --no-install-recommends binutils && \
    rm -rf /var/lib/apt/lists/*
ARG SERVICE
# An optional-dependency extra of the service installed too; empty: none. springhead-github's
# `hooks` (PyGithub) makes springhead-github-hooks, the image the chart's hook Jobs run.
ARG EXTRA=""
# Behind a TLS-inspecting proxy: --build-arg UV_SYSTEM_CERTS=true with the host's CA bundle
# mounted over the builder's (podman build -v <bundle>:/etc/ssl/certs/ca-certificates.crt:ro);
# the builder stage is not part of the image, so neither is the bundle.
ARG UV_SYSTEM_CERTS=false
COPY --from=uv /uv /bin/uv
# UV_FROZEN: install what uv.lock says without re-checking it against the workspace, so the
# builder needs the metadata of the service and the shared runtime only (`make images` checks the
# lock against the whole workspace first, with `uv sync --locked`).
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_FROZEN=1 \
    UV_NO_DEV=1
WORKDIR /src
# The third-party dependencies alone: this layer is rebuilt only when the lock or a pyproject
# changes.
COPY pyproject.toml uv.lock ./
COPY shared/pyproject.toml shared/
COPY ${SERVICE}/pyproject.toml ${SERVICE}/
# Not tzdata from PyPI (2.8 MB; the ping source declares it for installs on a system without time
# zone data): the base image has Debian's tzdata in /usr/share/zoneinfo, which zoneinfo reads
# first, so the wheel would be a second copy nothing reads.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --no-install-workspace --no-install-package tzdata --project "${SERVICE}" \
        ${EXTRA:+--extra "${EXTRA}"}
# The code: every member's src/ and metadata (.dockerignore lets nothing else in), as a service may
# use another member (the controller checks PingSources with the ping source's rules); uv installs
# only the service's locked closure, and the builder stage is not part of the image. A code change
# anywhere rebuilds this layer, which the dependency layer above and uv's cache keep to seconds.
# --no-editable installs into the venv, so the runtime stage needs nothing but /app/.venv. The
# service's one console script becomes
# /app/.venv/bin/springhead-service, the entry point whatever the service is called. Then what no
# service runs goes: the debug information and symbol tables of extension modules (strip keeps
# what the dynamic linker uses); kubernetes.aio, the client's asyncio twin (two thirds of the
# kubernetes package) that neither Springhead nor the client itself imports; the test suites some
# wheels ship inside their package (websocket-client's: half a megabyte); type stubs (.pyi) and
# Cython sources (.pyx, .pxd), which only type checkers and compilers read.
# The version every package gets (`make release` gives the tag's or the development version):
# hatch-vcs reads it here, for the build context has no .git. Declared after the dependencies'
# layer, so a new version rebuilds only the code's.
ARG VERSION=0.0.0
ENV SETUPTOOLS_SCM_PRETEND_VERSION="${VERSION}"
COPY . .
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --no-editable --no-install-package tzdata --project "${SERVICE}" \
        ${EXTRA:+--extra "${EXTRA}"} && \
    script="$(python3 -c 'import sys, tomllib; [name] = tomllib.load(open(sys.argv[1], "rb"))["project"]["scripts"]; print(name)' "${SERVICE}/pyproject.toml")" && \
    ln -s "${script}" /app/.venv/bin/springhead-service && \
    find /app/.venv -name '*.so' -exec strip --strip-unneeded {} + && \
    rm -rf /app/.venv/lib/python3.11/site-packages/kubernetes/aio && \
    find /app/.venv/lib/python3.11/site-packages -depth -type d \( -name tests -o -name test \) \
        -exec rm -rf {} + && \
    find /app/.venv -type f \( -name '*.pyi' -o -name '*.pyx' -o -name '*.pxd' \) -delete

# --- runtime: the same Python, the venv, a numeric non-root user; nothing written at run time ---
FROM ${PYTHON_IMAGE} AS runtime
ARG SERVICE
ARG EXTRA=""
# The commit the image is built from (`make images` gives `git rev-parse HEAD`): --version and
# springhead_build_info report it. Declared here, so a new commit rebuilds only this stage.
ARG REVISION=""
# The OCI labels of a release (`make release` gives them): the version the packages carry, when
# the commit was made (RFC 3339; SOURCE_DATE_EPOCH's time, so two builds agree), where it lives.
ARG VERSION=0.0.0
ARG CREATED=""
ARG SOURCE=https://github.com/springhead/springhead
LABEL org.opencontainers.image.title="springhead ${SERVICE}${EXTRA:+[${EXTRA}]}" \
      org.opencontainers.image.description="Springhead event source (${SERVICE}): events -> CloudEvents" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH="/app/.venv/bin:$PATH" \
    SPRINGHEAD_PORT=8080 \
    SPRINGHEAD_REVISION="${REVISION}"
WORKDIR /app
COPY --from=builder /app/.venv /app/.venv
# A numeric UID/GID, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 65532:65532
EXPOSE 8080
# /healthz on SPRINGHEAD_PORT; slim images have no curl, so Python's http.client asks (no proxy).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import http.client, os; c = http.client.HTTPConnection('127.0.0.1', int(os.environ.get('SPRINGHEAD_PORT', '8080')), timeout=4); c.request('GET', '/healthz'); raise SystemExit(c.getresponse().status != 200)"]
ENTRYPOINT ["springhead-service"]
