#!/usr/bin/env bash
# Installs checkov (pinned) into its own venv, .venv-checkov: checkov pins an old boto3 that would
# conflict with the runtime pins in .venv. Safe to run again; never fails the caller's setup
# (tests/infra/test_checkov.py skips with the reason when checkov is missing).
set -uo pipefail
cd "$(dirname "$0")/.."

CHECKOV_VERSION="3.3.30"
VENV=.venv-checkov

if [ -x "$VENV/bin/checkov" ] && "$VENV/bin/python" -m pip show checkov 2>/dev/null | grep -qx "Version: $CHECKOV_VERSION"; then
  exit 0
fi
if ! { [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"; }; then
  echo "setup_checkov: could not create $VENV; the checkov test will skip." >&2
  exit 0
fi
if ! "$VENV/bin/python" -m pip install -q --upgrade pip \
   || ! "$VENV/bin/python" -m pip install -q "checkov==$CHECKOV_VERSION"; then
  echo "setup_checkov: could not install checkov==$CHECKOV_VERSION; the checkov test will skip." >&2
  exit 0
fi
echo "setup_checkov: checkov $CHECKOV_VERSION in $VENV"
