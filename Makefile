# Thin wrappers; every target installs what it needs (uv itself included) on a fresh machine.
UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := .tools/bin/uv
endif
RUN := $(UV) run --frozen
## test: pytest-xdist workers (tests that wait on real time and real components overlap; 2 cores)
TEST_WORKERS ?= 2

.PHONY: sync run test unit lint format infra charts images release bench mutate clean

$(UV):
	python3 -m venv .tools
	.tools/bin/python -m pip install --quiet uv==$(UV_VERSION)

sync: $(UV)
	$(UV) sync --locked

## run: the event display (terminal view here, live page on http://127.0.0.1:8080/), a ping
## source firing every 3 s and an HTTP source on :8090, both sending through an in-memory Broker
## whose two Triggers deliver to the display; no cluster, no Kafka (Ctrl-C stops). Installs only
## what those processes and the runner (springhead-testing's SourceProcess) need (--inexact: a venv that has more, from `make sync`, keeps it).
run: $(UV)
	$(UV) sync --locked --inexact --no-dev --package springhead-display --package springhead-ping \
		--package springhead-http --package springhead-broker --package springhead-testing
	$(UV) run --no-sync python scripts/run_local.py $(ARGS)

## lint: ruff (lint + format check), mypy strict, import-linter contracts
lint: sync
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy
	$(RUN) lint-imports

format: sync
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

## infra: obtain and build the real components the tests use (cached under ~/.cache)
infra: sync
	$(RUN) python -m springhead_testinfra fetch

## charts: lint and render every chart with each ci/ values file; validate the manifests
charts: sync
	$(RUN) python -m springhead_testinfra fetch helm
	$(RUN) python tests/charts/lint_charts.py

## images: every service's image, built by podman from the one Dockerfile (SERVICE = the service's
## folder, REVISION = the commit, VERSION = the packages' version), tagged with its package name
## (springhead-ping, ..., feed-source), then the IMAGE_VARIANTS.
## `sync` first checks uv.lock against the whole workspace (the builds install it --frozen). Behind
## a TLS-inspecting proxy, CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt lets uv trust what the host
## trusts, for the build only; IMAGE_FLAGS adds podman build flags (README: machines without a
## registry).
IMAGE_SERVICES := $(patsubst %/pyproject.toml,%,$(wildcard sources/*/pyproject.toml controller/pyproject.toml display/pyproject.toml broker/pyproject.toml examples/*/pyproject.toml))
## Images of a service with one of its extras (EXTRA), tagged <package>-<extra>: springhead-github-hooks,
## the image of the github chart's hook Jobs (PyGithub stays out of the receiver's image), and the
## controller's roles: springhead-controller-broker (CONTROLLER_ROLES=broker: Kafka's admin client,
## CESQL) and springhead-controller-github (CONTROLLER_ROLES=github: PyGithub); the core image
## springhead-controller has none of them.
IMAGE_VARIANTS := sources/github:hooks controller:broker controller:github
# VERSION: the packages' version as `sync` installed it (hatch-vcs's, from the git tags): the
# build context has no .git, so the Dockerfile hands it to hatch-vcs; --version and the version
# label say it.
PACKAGE_VERSION := $(UV) run --no-sync python -c 'import importlib.metadata as m; print(m.version("springhead"))'
REVISION := $(shell git rev-parse HEAD 2>/dev/null)
## --label and --env again: podman's layer cache keys LABEL and ENV steps by their text, not by the
## REVISION (or VERSION) they expand, so a commit that changes no file of an image would keep the
## old values.
IMAGE_BUILD := podman build --format docker --build-arg REVISION=$(REVISION) \
	--build-arg VERSION=$$($(PACKAGE_VERSION)) \
	--label org.opencontainers.image.revision=$(REVISION) --env SPRINGHEAD_REVISION=$(REVISION) \
	--label org.opencontainers.image.version=$$($(PACKAGE_VERSION))
ifneq ($(CA_BUNDLE),)
IMAGE_BUILD += -v $(abspath $(CA_BUNDLE)):/etc/ssl/certs/ca-certificates.crt:ro --build-arg UV_SYSTEM_CERTS=true
endif
images: sync
	@set -e; for service in $(IMAGE_SERVICES); do \
	  name=$$(sed -n 's/^name = "\(.*\)"$$/\1/p' $$service/pyproject.toml | head -n 1); \
	  echo "$(IMAGE_BUILD) $(IMAGE_FLAGS) --build-arg SERVICE=$$service -t $$name ."; \
	  $(IMAGE_BUILD) $(IMAGE_FLAGS) --build-arg SERVICE=$$service -t $$name .; \
	done
	@set -e; for variant in $(IMAGE_VARIANTS); do \
	  service=$${variant%%:*}; extra=$${variant##*:}; \
	  name=$$(sed -n 's/^name = "\(.*\)"$$/\1/p' $$service/pyproject.toml | head -n 1)-$$extra; \
	  echo "$(IMAGE_BUILD) $(IMAGE_FLAGS) --build-arg SERVICE=$$service --build-arg EXTRA=$$extra -t $$name ."; \
	  $(IMAGE_BUILD) $(IMAGE_FLAGS) --build-arg SERVICE=$$service --build-arg EXTRA=$$extra -t $$name .; \
	done

## release: everything a user installs, into dist/ (scripts/release.py): wheels and sdists of the
## runtime and the test helpers, every image above as an OCI archive, every chart packaged with the
## chart repository's index, a CycloneDX SBOM per image and per wheel, SHA256SUMS. The version is
## the git tag's (vX.Y.Z) or a development version after it; SOURCE_DATE_EPOCH is the commit's
## time. ARGS adds flags (--registry, --chart-url).
release: sync
	$(RUN) python -m springhead_testinfra fetch helm images
	$(RUN) python scripts/release.py \
		$(foreach service,$(IMAGE_SERVICES) $(IMAGE_VARIANTS),--service $(service)) $(ARGS)

## unit: the quick tier only (no real Kafka or apiserver)
unit: sync
	$(RUN) pytest -m "not integration"

## test: everything CI runs: lint, then every test tier against real components
test: lint infra
	$(RUN) pytest -n $(TEST_WORKERS) --dist loadgroup

## bench: run the benchmarks and rewrite bench/RESULTS.md
bench: sync
	$(RUN) python bench/run.py

## mutate: mutation testing of the pure modules (cosmic-ray; minutes per module; not in CI):
## a per-module score table, also written to bench/MUTATION.md (outcomes kept in bench/mutation.json,
## so ARGS="--only delivery,offsets" re-runs two modules and keeps the others' rows)
mutate: $(UV)
	$(UV) run --frozen --group mutation python scripts/mutate.py $(ARGS)

clean:
	rm -rf .venv .tools .pytest_cache .mypy_cache .ruff_cache .hypothesis .import_linter_cache
