#!/usr/bin/env bash
# Builds everything Perimeter needs on a fresh Debian machine with python3:
# Debian packages (when root), the .venv and the pinned Python packages. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# wapiti and sqlmap (GPL) are optional engines of the `webapp` signal, run as separate programs behind its
# proxy; without them the built-in engine runs alone and the coverage says so. chromium and chromium-driver run
# the self-assessment page's browser tests (tests/browser).
DEBIAN_PACKAGES=(nmap poppler-utils fonts-dejavu-core python3-venv wapiti sqlmap chromium chromium-driver)
missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing Debian packages (${missing[*]}); install them with apt-get as root." >&2
    echo "setup: without nmap the built-in port scanner is used; without poppler-utils PDF page tests skip;" >&2
    echo "setup: without chromium and chromium-driver the browser tests (tests/browser) skip." >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade "pip<26.3"  # chalice 1.34 requires pip<26.3
.venv/bin/python -m pip install -q -r requirements-dev.txt
# The partner SDK and `perimeter` CLI (clients/python), editable; its one dependency, requests, is pinned above.
.venv/bin/python -m pip install -q --no-deps -e clients/python

# npm asl-validator (pinned) for the ASL check in `make test`; without npm that test skips with the reason.
ASL_VALIDATOR_VERSION=4.0.0
if ! command -v npm >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null \
    || echo "setup: apt-get could not install npm" >&2
fi
if command -v npm >/dev/null; then
  if [ ! -x .tools/node_modules/.bin/asl-validator ] || \
     ! grep -q "\"version\": \"$ASL_VALIDATOR_VERSION\"" .tools/node_modules/asl-validator/package.json 2>/dev/null; then
    mkdir -p .tools
    npm install --prefix .tools --no-audit --no-fund --silent "asl-validator@$ASL_VALIDATOR_VERSION" \
      || echo "setup: npm could not install asl-validator; the ASL validator test will skip" >&2
  fi
  # typescript (pinned) compiles clients/typescript in tests/clients_ts; without it those tests skip.
  TYPESCRIPT_VERSION=6.0.3
  if [ ! -x .tools/node_modules/.bin/tsc ] || \
     ! grep -q "\"version\": \"$TYPESCRIPT_VERSION\"" .tools/node_modules/typescript/package.json 2>/dev/null; then
    mkdir -p .tools
    npm install --prefix .tools --no-audit --no-fund --silent --save-exact "typescript@$TYPESCRIPT_VERSION" \
      || echo "setup: npm could not install typescript; the TypeScript client tests will skip" >&2
  fi
  # axe-core (pinned) checks the self-assessment page's accessibility in tests/browser; without it those tests skip.
  AXE_CORE_VERSION=4.14.1
  if [ ! -f .tools/node_modules/axe-core/axe.min.js ] || \
     ! grep -q "\"version\": \"$AXE_CORE_VERSION\"" .tools/node_modules/axe-core/package.json 2>/dev/null; then
    mkdir -p .tools
    npm install --prefix .tools --no-audit --no-fund --silent --save-exact "axe-core@$AXE_CORE_VERSION" \
      || echo "setup: npm could not install axe-core; the browser tests will skip" >&2
  fi
else
  echo "setup: npm not found; the asl-validator, TypeScript client and browser tests will skip (apt-get install npm)" >&2
fi
sha256sum requirements.txt requirements-dev.txt scripts/setup.sh > .venv/.installed
bash scripts/setup_checkov.sh
