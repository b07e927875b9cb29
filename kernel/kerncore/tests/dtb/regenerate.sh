#!/bin/sh
# Regenerates the device-tree fixtures of kerncore's dtb tests from this
# machine's QEMU (7.2). QEMU dumps a 1 MiB blob (totalsize 0x100000, mostly
# free space); `pack` cuts it after the strings block and rewrites totalsize,
# which is what `dtc -O dtb` would do, so the committed files stay small.
set -eu
cd "$(dirname "$0")"
kernel=$(mktemp)
trap 'rm -f "$kernel"' EXIT
head -c 64 /dev/zero >"$kernel" # -append needs a -kernel; it is never run

dump() { # name, extra QEMU arguments...
    name=$1
    shift
    qemu-system-arm -nic none -display none -kernel "$kernel" "$@" -machine dumpdtb="$name.full" 2>/dev/null
    python3 - "$name.full" "$name" <<'PY'
import struct, sys
blob = open(sys.argv[1], "rb").read()
hdr = list(struct.unpack(">10I", blob[:40]))
end = max(hdr[2] + hdr[9], hdr[3] + hdr[8])  # struct block end, strings block end
hdr[1] = end
open(sys.argv[2], "wb").write(struct.pack(">10I", *hdr) + blob[40:end])
PY
    rm -f "$name.full"
}

dump virt-gicv2.dtb -M virt -cpu cortex-a15 -m 512M -append "console=pl011 semihosting=off"
dump virt-gicv3-max.dtb -M virt,gic-version=3 -cpu max -m 512M
dump virt-hyp.dtb -M virt,virtualization=on -cpu cortex-a15 -m 1G
dump virt-gicv2-smp4.dtb -M virt -cpu cortex-a15 -smp 4 -m 512M
dump virt-gicv3-smp4.dtb -M virt,gic-version=3 -cpu max -smp 4 -m 2G
