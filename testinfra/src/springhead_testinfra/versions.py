"""Every pinned version of every real component the tests run against.

This module is the one place where versions live. A change here changes the cache key of the
component (its cache folder is named after the version), so the next ``fetch`` builds it anew.
Bump ``RECIPE`` of a component when the way it is built changes without a version change.

Where the pins come from (all looked up through the registries' own clients):

* Apache Kafka from Maven Central. 4.4.0 is the newest 4.x there; its classes target Java 17
  (class-file version 61). Maven Central lacks ``org.apache.kafka:kafka-tools-api:4.4.0`` although
  ``kafka_2.13:4.4.0`` declares it; no class of the broker's closure refers to it, so the pom
  excludes it (see ``KAFKA_EXCLUDED_ARTIFACTS``).
* kube-apiserver from the Go module proxy. v1.37.1 is the newest release the proxy serves here
  (v1.37.2 answers "403 This module version is not available"); its go.mod says ``go 1.26.0``,
  which the installed Go 1.26 accepts with ``GOTOOLCHAIN=local``.
* etcd 3.6.x (newest patch on the Go proxy); Kubernetes 1.37 supports etcd 3.6 servers.
* Helm v4 (newest v4 tag on the Go proxy).
* promtool (Prometheus' rule checker and rule unit-test runner) from the Go module proxy.
  Prometheus publishes its 3.x releases as module versions ``v0.3xx.y`` (3.16.0 is v0.316.0,
  the newest the proxy serves here); the binary reports the 3.x version.
* BuildKit (for its Dockerfile linter) from the Go module proxy. v0.34.1: v0.34.2 needs a
  ``github.com/tonistiigi/fsutil`` pseudo-version the proxy answers "403 not available" for.
  Its go.mod says ``go 1.26.8``, so building the linter needs Go 1.26.8+.
"""

from __future__ import annotations

from typing import Final

# --- Apache Kafka (Maven Central) -------------------------------------------------------------
KAFKA_VERSION: Final = "4.4.0"
KAFKA_SCALA_VERSION: Final = "2.13"
#: The log4j2 binding for slf4j 1.7 (Kafka 4 logs through slf4j-api 1.7.36). Same version as the
#: log4j-api/log4j-core that kafka_2.13 4.4.0 already brings.
LOG4J_VERSION: Final = "2.25.5"
#: Artifacts declared by kafka_2.13 that Maven Central does not have and the broker never loads.
KAFKA_EXCLUDED_ARTIFACTS: Final = ("org.apache.kafka:kafka-tools-api",)
MAVEN_DEPENDENCY_PLUGIN_VERSION: Final = "3.8.1"
KAFKA_RECIPE: Final = 1

# --- Kubernetes control plane (Go module proxy) -----------------------------------------------
KUBERNETES_VERSION: Final = "v1.37.1"
ETCD_VERSION: Final = "v3.6.16"
KUBE_RECIPE: Final = 1

# --- Helm (Go module proxy) -------------------------------------------------------------------
HELM_VERSION: Final = "v4.3.1"
HELM_RECIPE: Final = 1

# --- promtool (Go module proxy) ---------------------------------------------------------------
#: The Prometheus release (the binary's ``--version``) and the module version that holds it.
PROMETHEUS_VERSION: Final = "3.16.0"
PROMETHEUS_MODULE_VERSION: Final = "v0.316.0"
PROMTOOL_RECIPE: Final = 1

# --- BuildKit's Dockerfile linter (Go module proxy) --------------------------------------------
BUILDKIT_VERSION: Final = "v0.34.1"
DOCKERFILE_LINT_RECIPE: Final = 1

# --- Container images (podman; no registry: the base images are made by testinfra.images) -----
#: The uv of the Makefile's UV_VERSION; the uv image holds its binary.
UV_VERSION: Final = "0.13.9"
#: The images the Dockerfile's ARG defaults name (podman resolves the short names to these).
PYTHON_IMAGE: Final = "docker.io/library/python:3.11-slim-bookworm"
UV_IMAGE: Final = f"ghcr.io/astral-sh/uv:{UV_VERSION}"
#: The Debian release of the Python base (python3 is 3.11 there, as in the image's name).
DEBIAN_SUITE: Final = "bookworm"
IMAGES_RECIPE: Final = 1

#: The Kubernetes schema version handed to kubernetes-validate (a PyPI dependency of this
#: package; the lock file pins its release). Follows the apiserver's minor version.
KUBERNETES_VALIDATE_SCHEMA: Final = "1.37.0"

#: The oldest Go toolchain that can build the Go components above (their go.mod ``go`` lines;
#: BuildKit's linter needs 1.26.8).
GO_MINIMUM: Final = (1, 26, 8)


def kubernetes_minor() -> str:
    """Return the Kubernetes minor version of ``KUBERNETES_VERSION`` (``"37"`` for v1.37.1)."""
    return KUBERNETES_VERSION.lstrip("v").split(".")[1]


def staging_version() -> str:
    """Return the version of Kubernetes' staging modules (``v0.37.1`` for v1.37.1)."""
    major_minor_patch = KUBERNETES_VERSION.lstrip("v").split(".")
    return "v0." + ".".join(major_minor_patch[1:])


def summary() -> dict[str, str]:
    """Return the pinned component versions, for ``versions`` output and reports."""
    return {
        "kafka": f"{KAFKA_VERSION} (kafka_{KAFKA_SCALA_VERSION}, log4j {LOG4J_VERSION})",
        "kube-apiserver": KUBERNETES_VERSION,
        "etcd": ETCD_VERSION,
        "helm": HELM_VERSION,
        "promtool": f"prometheus {PROMETHEUS_VERSION} (module {PROMETHEUS_MODULE_VERSION})",
        "dockerfile-lint": f"buildkit {BUILDKIT_VERSION}",
        "images": f"podman, {PYTHON_IMAGE} from Debian {DEBIAN_SUITE}, {UV_IMAGE}",
        "kubernetes-validate schemas": KUBERNETES_VALIDATE_SCHEMA,
    }
