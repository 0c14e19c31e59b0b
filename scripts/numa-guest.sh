#!/bin/bash
# Runs the NUMA tests and `lorakit topology` inside a QEMU guest with two NUMA nodes (node 0 = CPU 0,
# node 1 = CPU 1, 1.5 GiB each, distance 21), so placement and pinning are checked on a real
# multi-node kernel from a one-node machine. A functional check only: the guest's nodes share the
# host's memory, so timings there say nothing about NUMA speedups.
#
#   sudo apt-get install qemu-system-x86 busybox-static linux-image-cloud-amd64
#   swift build --build-tests --scratch-path .build-numa
#   scripts/numa-guest.sh .build-numa
#
# Uses TCG (software emulation): nested KVM often fails on cloud VMs. Takes about four minutes
# (NUMAGroupedTests trains a tiny model under every mode with real placement: ~2 minutes of it).
set -euo pipefail
SCRATCH=$(cd "${1:-.build}" && pwd)
B=$SCRATCH/debug
KERNEL=${KERNEL:-$(ls /boot/vmlinuz-* | sort -V | tail -1)}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
R=$WORK/root
mkdir -p "$R"/{bin,proc,sys,dev,tmp}
cp /bin/busybox "$R/bin/busybox"
for a in sh mount poweroff echo taskset; do ln -s busybox "$R/bin/$a"; done
# The training test of NUMAGroupedTests tokenizes with the committed SmolLM2 tokenizer fixture.
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$R$ROOT/Tests/Fixtures/tokenizer/smollm2"
cp "$ROOT"/Tests/Fixtures/tokenizer/smollm2/* "$R$ROOT/Tests/Fixtures/tokenizer/smollm2/"
for f in "$B/lorakit" "$B/LoRAKitPackageTests.xctest"; do
  mkdir -p "$R$(dirname "$f")"; cp -L "$f" "$R$f"
  for lib in $(ldd "$f" | grep -o '/[^ ]*'); do mkdir -p "$R$(dirname "$lib")"; cp -L "$lib" "$R$lib"; done
done
cat > "$R/init" <<EOF
#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
cd /tmp
echo "=== lorakit topology"; $B/lorakit topology
echo "=== taskset -c 1 lorakit topology --numa distribute"; taskset -c 1 $B/lorakit topology --numa distribute
echo "=== NUMA tests"
$B/LoRAKitPackageTests.xctest LoRAKitTests.NUMAPlacementTests,LoRAKitTests.NUMAPinningTests,LoRAKitTests.NUMAResultsTests,LoRAKitTests.NUMAGroupedTests 2>&1
echo "=== guest done"
poweroff -f
EOF
chmod +x "$R/init"
(cd "$R" && find . | cpio -o -H newc --quiet | gzip -1 > "$WORK/initrd.gz")
timeout 900 qemu-system-x86_64 -accel tcg -cpu max -m 3G -smp 2 \
  -object memory-backend-ram,id=m0,size=1536M -object memory-backend-ram,id=m1,size=1536M \
  -numa node,nodeid=0,cpus=0,memdev=m0 -numa node,nodeid=1,cpus=1,memdev=m1 \
  -numa dist,src=0,dst=1,val=21 \
  -kernel "$KERNEL" -initrd "$WORK/initrd.gz" -append "console=ttyS0 rdinit=/init quiet panic=-1" \
  -nographic -no-reboot 2>&1 | tr -d '\r' | tee "${LOG:-/dev/null}" | sed -n '/=== lorakit topology/,/=== guest done/p'
