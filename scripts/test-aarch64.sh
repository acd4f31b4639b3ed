#!/usr/bin/env bash
# Tests the cds crate on aarch64 (the Lambda functions' Graviton architecture)
# under qemu user-mode emulation: the golden scores, the proptests and the
# real-image comparison of every scoring loop, NEON among them, with the
# reference. Installs what it needs if missing (Debian's qemu-user and
# aarch64 cross linker, the Rust target); quick when already installed.
# Emulation proves correctness only, not speed (docs/graviton.md).
# Honours CARGO_TARGET_DIR like any cargo command.
set -euo pipefail
cd "$(dirname "$0")/.."

target=aarch64-unknown-linux-gnu

if ! command -v qemu-aarch64 >/dev/null || ! command -v aarch64-linux-gnu-gcc >/dev/null \
  || [ ! -e /usr/aarch64-linux-gnu/lib/libc.so ]; then
  echo "== installing qemu-user and gcc-aarch64-linux-gnu (apt-get)"
  sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends \
    qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross >/dev/null
fi

if ! rustup target list --installed | grep -qx "$target"; then
  echo "== rustup target add $target"
  rustup target add "$target"
fi

# Set here, not in a .cargo/config, so that no other build links or runs
# through the cross tools.
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"

echo "== cargo test -p cds --target $target (under qemu-aarch64)"
cargo test -p cds --target "$target"
