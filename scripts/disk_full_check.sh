#!/usr/bin/env bash
# A full disk during conversion, for real: mounts a 4 MB tmpfs (needs root, or CAP_SYS_ADMIN),
# fills most of it, and converts a golden checkpoint into it. Checks, for `convert --to gguf`
# (float and quantized) and `convert --to hf`: a non-zero exit, a "No space left on device"
# error that names the output file, no panic, and nothing left behind (no output, no temporary
# file, no half folder). Without root it says so and exits 0; tests/error_catalogue.rs has a
# variant with `ulimit -f` that needs no privileges.
#
#   scripts/disk_full_check.sh [RWKV_CONVERT_BINARY]
#
# The binary defaults to $CARGO_TARGET_DIR/release/rwkv-convert (built if missing).

set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ "$(id -u)" != 0 ]]; then
    echo "disk_full_check: not root, cannot mount a small tmpfs; skipped (the ulimit variant is in tests/error_catalogue.rs)"
    exit 0
fi
BIN="${1:-}"
if [[ -z "$BIN" ]]; then
    TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
    BIN="$TARGET/release/rwkv-convert"
    if [[ ! -x "$BIN" ]]; then
        (cd "$ROOT" && nice -n 19 cargo build --release -j 1 --bin rwkv-convert) || exit 1
    fi
fi
MNT="$(mktemp -d /tmp/rwkv-small.XXXXXX)"
if ! mount -t tmpfs -o size=4m tmpfs "$MNT"; then
    echo "disk_full_check: mount failed (no CAP_SYS_ADMIN in this container?); skipped"
    rmdir "$MNT"
    exit 0
fi
trap 'umount "$MNT"; rmdir "$MNT"' EXIT

fail=0
check() { # NAME EXPECTED_NAME_IN_MESSAGE COMMAND...
    local name="$1" expect_name="$2"
    shift 2
    local err rc
    err="$("$@" 2>&1 >/dev/null)"
    rc=$?
    local left
    left="$(ls -A "$MNT" | grep -v '^filler$' || true)"
    local verdict=ok
    ((rc != 0)) || verdict="FAIL: exit code 0"
    grep -q "No space left on device" <<<"$err" || verdict="FAIL: no 'No space left on device'"
    grep -q -- "$expect_name" <<<"$err" || verdict="FAIL: the message does not name $expect_name"
    grep -qE "panicked|RUST_BACKTRACE" <<<"$err" && verdict="FAIL: panic"
    [[ -z "$left" ]] || verdict="FAIL: left behind: $(echo $left)"
    printf '%-28s exit %d  %s\n    %s\n' "$name" "$rc" "$verdict" "$err"
    [[ "$verdict" == ok ]] || fail=1
    rm -rf "${MNT:?}/x.gguf" "${MNT:?}/hf"
}

GOLDEN="$ROOT/golden/v7-bf16.pth" # 1.2 MB; as f32 GGUF 2.4 MB
for filler_kb in 3000 3900; do
    rm -f "$MNT/filler"
    head -c $((filler_kb * 1024)) /dev/zero >"$MNT/filler"
    echo "== tmpfs 4 MB, ${filler_kb} KB already used ($(df -k --output=avail "$MNT" | tail -1 | tr -d ' ') KB free)"
    check "gguf f32" "x.gguf" "$BIN" convert "$GOLDEN" --to gguf "$MNT/x.gguf" --outtype f32 --tokenizer world
    check "gguf bf16" "x.gguf" "$BIN" convert "$GOLDEN" --to gguf "$MNT/x.gguf" --outtype bf16 --tokenizer world
    check "gguf Q8_0 (float file first)" "$MNT/" "$BIN" convert "$GOLDEN" --to gguf "$MNT/x.gguf" --outtype Q8_0 --tokenizer world
    check "hf f32" "hf/" "$BIN" convert "$GOLDEN" --to hf "$MNT/hf" --dtype f32
done
if ((fail)); then
    echo "disk_full_check: FAILED"
    exit 1
fi
echo "disk_full_check: all cases failed cleanly"
