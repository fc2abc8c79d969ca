#!/bin/sh
# Checks the core-API manifests of this directory against the Kubernetes OpenAPI schemas that
# kubernetes-validate (PyPI) bundles, so it runs offline once installed:
#   python3 -m venv /tmp/kv-venv && /tmp/kv-venv/bin/pip install kubernetes-validate
#   KUBERNETES_VALIDATE=/tmp/kv-venv/bin/kubernetes-validate examples/kubernetes/validate.sh
# operators/ holds custom resources (ExternalSecret, SecretProviderClass) that it has no
# schema for; they are not checked. Not part of CI (CI needs only the Rust toolchain).
set -eu
cd "$(dirname "$0")"
validate=${KUBERNETES_VALIDATE:-kubernetes-validate}
version=${KUBERNETES_VERSION:-1.33.0}
"$validate" --version
"$validate" --strict -k "$version" file-source/*.yaml kms-instance/*.yaml
