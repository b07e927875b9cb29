#!/usr/bin/env bash
# Build, boot and test the microkernel.
#
#   ./run.sh                 build and boot the default system under QEMU (vexpress-a9)
#   ./run.sh --board virt    options with no verb mean `run`: the same on QEMU's virt board
#   ./run.sh test            lint, every host test, and every QEMU test on the board matrix:
#                              vexpress      vexpress-a9, Cortex-A9, semihosting
#                              virt-gicv2    virt, Cortex-A15, GICv2, semihosting
#                              virt-kvmlike  virt, max (ARMv8 in AArch32), GICv3, no semihosting,
#                                            with the KVM-safety plugin (tools/kvmcheck): any MMIO
#                                            access KVM could not emulate fails the test
#   ./run.sh gdb             boot halted with a gdb stub on :1234 (prints the gdb command)
#   ./run.sh kvm             boot the virt kernel under KVM: qemu-system-aarch64 -M virt -enable-kvm
#                            -cpu host,aarch64=off, on an AArch64 host with /dev/kvm whose cores run
#                            AArch32 at EL1 (KVM_CAP_ARM_EL1_32BIT); anywhere else it prints why not
#                            and exits 69
#   ./run.sh bench [board options]   host allocator benchmarks (table + SVG plot), then the
#                            kernel's IPC/map_pages costs (system=kbench) and the QEMU
#                            client benchmark (system=bench under -icount: cost per
#                            vmalloc/vfree/ioremap beside Linux 6.1, goals MET/NOT MET)
#                            (target/bench.svg: ours beside Linux, log scale, goals marked;
#                            target/bench.md: the tables with date, commit and QEMU version)
#   ./run.sh map [SYSTEM]    boot SYSTEM (default stress) and draw the window-map snapshots its
#                            observer client prints into target/window-map.svg
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
#   ipc-test, irq-test (vexpress-a9 only), kbench, bad-images
#             kernel tests and the IPC/map_pages benchmark
#
# Board options (run, gdb, qemu-test, bench, fuzz, kvm):
#   --board vexpress-a9|virt   the board (default vexpress-a9); each has its own kernel ELF,
#                      target/kernel-<board>.elf
#   --gic 2|3          virt: GIC version (default 2; under KVM the host's)
#   --cpu NAME         -cpu (default cortex-a9 / cortex-a15; e.g. max)
#   --virtualization   virt: virtualization=on, the kernel is entered in HYP mode
#   --no-semihosting   no -semihosting; the kernel gets semihosting=off, powers the board off
#                      after its last line `system: exit status N`, and that line is the status
#                      (a run that ends without it fails)
#   --kvmcheck         load the KVM-safety plugin; a flagged MMIO access fails the run
# Run options:
#   --icount           -icount shift=0 (one guest instruction = 1 ns: repeatable counts)
#   --smp N            CPUs (secondaries are parked until SMP support lands)
#   --mem SIZE         RAM, e.g. 256M (default 512M)
#   --append "k=v"     kernel command line (ticks=N, hz=N, mem=SIZE, selftest=...)
#   --drive FILE       attach FILE as a virtio-blk disk on transport N (repeatable)
#   --timeout SECS     time limit for `run` (default 300, 0 = none)
#   --raw              show console lines as printed (by default task PCs and callers are
#                      symbolized: function+0xoff/0xsize [image]; also for qemu-test's log tails)
#   -- ARGS            extra QEMU arguments
# qemu-test options:
#   --config NAME      run only this matrix configuration (repeatable; vexpress, virt-gicv2,
#                      virt-kvmlike, or all); board options instead run that one configuration
#   --jobs N           QEMU runs at once (default 2)
#   --list             list the tests, with the boards each applies to
#
# Exit statuses: the guest's (0 success, 1 test failure, 2 kernel panic, 3 kernel fault);
# 64 usage error; 69 `kvm` on a host that cannot run it.
#
# Missing prerequisites (qemu-system-arm, which also brings qemu-system-aarch64,
# gdb-multiarch, the armv7a-none-eabi Rust target, clippy, rustfmt) are installed on first
# use. The KVM-safety plugin needs nothing more: the qemu-plugin crate carries the API.
set -euo pipefail
cd "$(dirname "$0")"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

ensure_prereqs() {
    local missing=()
    command -v qemu-system-arm >/dev/null 2>&1 || missing+=(qemu-system-arm)
    command -v gdb-multiarch >/dev/null 2>&1 || missing+=(gdb-multiarch)
    # The symbolizer names inlined functions with addr2line (binutils).
    command -v addr2line >/dev/null 2>&1 || missing+=(binutils)
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

# Options with no verb mean `run` (`./run.sh --board virt`).
verb="${1:-run}"
case "$verb" in
-h | --help) ;;
-*) verb=run ;;
*) if [ $# -gt 0 ]; then shift; fi ;;
esac
case "$verb" in
run)
    ensure_prereqs
    runner run --mem 512M "$@"
    ;;
gdb)
    ensure_prereqs
    runner gdb --mem 512M "$@"
    ;;
kvm)
    ensure_prereqs
    runner kvm --mem 512M "$@"
    ;;
test)
    ensure_prereqs
    lint
    say "host tests (unit + property)"
    cargo test -q
    say "QEMU tests (board matrix)"
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
map)
    ensure_prereqs
    runner map --mem 512M "$@"
    ;;
lint)
    ensure_prereqs
    lint
    ;;
bench)
    ensure_prereqs
    say "host benchmarks (vmbench)"
    cargo run -q --release -p vmbench
    # Board options (e.g. --board virt) apply to the two QEMU benchmarks.
    say "QEMU kernel benchmark (system=kbench, -icount shift=0)"
    runner run --icount "$@" --append system=kbench | grep -E 'bench:|exited'
    say "QEMU memory-server benchmark (system=bench, -icount shift=0)"
    runner bench "$@"
    ;;
-h | --help | help)
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    ;;
*)
    echo "unknown verb '$verb' (try ./run.sh help)" >&2
    exit 64
    ;;
esac
