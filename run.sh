#!/usr/bin/env bash
# Build, boot and test the microkernel.
#
#   ./run.sh                 build and boot the default system under QEMU
#   ./run.sh test            every host test, lint, and every QEMU test
#   ./run.sh gdb             boot halted with a gdb stub on :1234 (prints the gdb command)
#   ./run.sh bench           host allocator benchmarks (table + SVG plot), then the
#                            kernel's IPC/map_pages costs (system=kbench) and the QEMU
#                            client benchmark (system=bench under -icount: cost per
#                            vmalloc/vfree/ioremap beside Linux 6.1, goals MET/NOT MET)
#   ./run.sh fuzz [--seed S] [--count N]   the in-guest fuzzer (system=fuzz): three instances
#                            (seeds S, S+1, S+2; default 1, 2, 3) send N requests each
#                            (default 34,000) of valid and hostile traffic to the memory
#                            server; exits with the guest's status (add --timeout 0 for
#                            long runs: the default limit is 300 s)
#   ./run.sh lint            cargo fmt --check and clippy (host crates and the ARM kernel)
#   ./run.sh qemu-test [NAME...]   only the QEMU tests (optionally those whose name contains NAME)
#
# Systems (./run.sh run --append system=NAME; add --mem 128M for evil-oom):
#   demo      memory server + demo client + vmallocinfo (the default)
#   stress    three clients run Linux's test_vmalloc cases at once, every page verified
#   evil      a hostile client: every bad request gets its exact error; guard-page overrun
#   evil-oom  window and RAM exhaustion (NoVirtualSpace, OutOfMemory), zero frames leaked
#   bench     client-side cost table (use ./run.sh bench: it runs it under -icount)
#   isolation (--mem 128M), window-hog, kmem, dma-attrs, stacks, fuzz
#             issue 10's isolation tests (see README.md, "Systems and tools")
#   exit-fault, exit-nonzero   a client fails unexpectedly: the run exits 1
#   ipc-test, kbench, bad-images   kernel tests and the IPC/map_pages benchmark
#
# Options after the verb (run, gdb, qemu-test) go to tools/runner:
#   --icount           -icount shift=0 (one guest instruction = 1 ns: repeatable counts)
#   --smp N            CPUs (secondaries are parked until SMP support lands)
#   --mem SIZE         RAM, e.g. 256M (default 512M)
#   --append "k=v"     kernel command line (ticks=N, hz=N, mem=SIZE, selftest=...)
#   --drive FILE       attach FILE as a virtio-blk disk (repeatable)
#   --timeout SECS     time limit for `run` (default 300, 0 = none)
#   -- ARGS            extra QEMU arguments
#
# Missing prerequisites (qemu-system-arm, gdb-multiarch, the armv7a-none-eabi
# Rust target, clippy, rustfmt) are installed on first use.
set -euo pipefail
cd "$(dirname "$0")"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

ensure_prereqs() {
    local missing=()
    command -v qemu-system-arm >/dev/null 2>&1 || missing+=(qemu-system-arm)
    command -v gdb-multiarch >/dev/null 2>&1 || missing+=(gdb-multiarch)
    if ((${#missing[@]})); then
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        say "installing ${missing[*]} (apt-get)"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        echo "cargo not found: install Rust with rustup (https://rustup.rs) first" >&2
        exit 1
    fi
    if ! rustup target list --installed 2>/dev/null | grep -qx armv7a-none-eabi; then
        say "adding the armv7a-none-eabi Rust target"
        rustup target add armv7a-none-eabi
    fi
    local comps
    comps="$(rustup component list --installed 2>/dev/null)"
    for c in clippy rustfmt; do
        if ! grep -q "^$c" <<<"$comps"; then
            say "adding rustup component $c"
            rustup component add "$c"
        fi
    done
}

runner() { cargo run -q -p runner --release -- "$@"; }

lint() {
    say "cargo fmt --check"
    cargo fmt --all --check
    say "clippy: host crates"
    cargo clippy -q --all-targets -- -D warnings
    say "clippy: kernel and user tasks (armv7a-none-eabi)"
    cargo clippy -q -p kernel -p userlib -p ktest -p memsrv -p memtools -p blkdrv \
        --target armv7a-none-eabi --release -- -D warnings
}

verb="${1:-run}"
[ $# -gt 0 ] && shift
case "$verb" in
run)
    ensure_prereqs
    runner run --mem 512M "$@"
    ;;
gdb)
    ensure_prereqs
    runner gdb --mem 512M "$@"
    ;;
test)
    ensure_prereqs
    lint
    say "host tests (unit + property)"
    cargo test -q
    say "QEMU tests"
    runner test "$@"
    ;;
qemu-test)
    ensure_prereqs
    runner test "$@"
    ;;
fuzz)
    ensure_prereqs
    runner fuzz "$@"
    ;;
lint)
    ensure_prereqs
    lint
    ;;
bench)
    ensure_prereqs
    say "host benchmarks (vmbench)"
    cargo run -q --release -p vmbench -- "$@"
    say "QEMU kernel benchmark (system=kbench, -icount shift=0)"
    runner run --icount --append system=kbench | grep -E 'bench:|exited'
    say "QEMU memory-server benchmark (system=bench, -icount shift=0)"
    runner bench
    ;;
-h | --help | help)
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    ;;
*)
    echo "unknown verb '$verb' (try ./run.sh help)" >&2
    exit 64
    ;;
esac
