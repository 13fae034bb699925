#!/usr/bin/env bash
# Sets up everything PyBridge needs on a fresh machine, and nothing twice:
# Elixir/Erlang (from Debian when missing and we are root), then a virtual
# environment in .venv with the package and the extras given as arguments.
# Usage: scripts/bootstrap.sh [EXTRA ...]      e.g. scripts/bootstrap.sh dev dspy
set -euo pipefail
cd "$(dirname "$0")/.."

need_elixir=()
for tool in elixir mix erl dialyzer; do
  command -v "$tool" >/dev/null 2>&1 || need_elixir+=("$tool")
done
if [ ${#need_elixir[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing Elixir/Erlang from Debian (missing: ${need_elixir[*]})"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq elixir erlang-dev erlang-dialyzer >/dev/null
  else
    echo "PyBridge needs Elixir >= 1.14 and Erlang/OTP >= 25 with Dialyzer (missing: ${need_elixir[*]})." >&2
    echo "Install them, e.g. as root on Debian/Ubuntu:" >&2
    echo "    apt-get update && apt-get install -y elixir erlang-dev erlang-dialyzer" >&2
    exit 1
  fi
fi

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "PyBridge needs Python >= 3.11 with venv; '$PYTHON' is $("$PYTHON" --version 2>&1 || echo missing)." >&2
  echo "Set PYTHON=/path/to/python3.11 or install it (Debian: apt-get install -y python3 python3-venv)." >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv

extras=$(IFS=,; echo "$*")
stamp=".venv/.installed-$(cat setup.cfg pyproject.toml setup.py pybridge_port/_ccodec.c | sha1sum | cut -c1-12)-${extras:-none}"
if [ ! -f "$stamp" ]; then
  echo "==> installing pybridge${extras:+[$extras]} into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras:+[$extras]}"
  rm -f .venv/.installed-*
  touch "$stamp"
fi
