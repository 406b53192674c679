#!/usr/bin/env bash
# Runs every test of the workspace: the README's test command, and what .ci/run calls.
#
# Some tests drive real, independent peers: the AWS CLI and boto3 against the local
# STS/IAM endpoint, PyJWT against `irsa issuer serve`, kubernetes-validate against the
# webhook manifests. They come from PyPI into a virtualenv under target/, made once and
# remade when scripts/requirements-test.txt changes. Tests find it through IRSA_TEST_PYTHON.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="$PWD/target/test-venv"
if [ ! -x "$venv/bin/python" ] || ! cmp -s scripts/requirements-test.txt "$venv/.requirements"; then
  echo "test.sh: installing Python test tools into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/requirements-test.txt
  cp scripts/requirements-test.txt "$venv/.requirements"
fi
export IRSA_TEST_PYTHON="$venv/bin/python"
export PATH="$venv/bin:$PATH"

if cargo nextest --version >/dev/null 2>&1; then
  exec cargo nextest run --workspace --no-fail-fast "$@"
else
  exec cargo test --workspace --no-fail-fast "$@"
fi
