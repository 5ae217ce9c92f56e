#!/bin/sh
# Installs the Debian packages iotcnn needs, skipping those already present.
#   scripts/deps.sh          build, test (qemu-user: the portable-build check), fetch data (npm),
#                            the pictures (gnuplot-nox: training curves, confusion matrices)
#   scripts/deps.sh bench    also python3-torch, the peer `make bench` compares with
#   scripts/deps.sh device   also the Cortex-M tools of `make device-eval` / `device-test`
#   scripts/deps.sh fuzz     also clang-14 and libFuzzer, for `make fuzz` / `make fuzz-smoke`
#   scripts/deps.sh mpi      also Open MPI, for `make MPI=1` and `mpirun -np P bin/iotcnn train`
# Runs apt-get as root, or through sudo.
set -eu
pkgs="build-essential pkg-config libopenblas-dev libpng-dev libjpeg-dev libcjson-dev zlib1g-dev
libcriterion-dev ca-certificates strace qemu-user gnuplot-nox"
[ "${1:-}" = bench ] && pkgs="$pkgs python3-torch python3-numpy"
[ "${1:-}" = device ] && pkgs="$pkgs gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"
[ "${1:-}" = fuzz ] && pkgs="$pkgs clang-14 libfuzzer-14-dev libclang-rt-14-dev"
[ "${1:-}" = mpi ] && pkgs="$pkgs openmpi-bin libopenmpi-dev"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
# npm may come from another Node.js distribution; only its command matters.
command -v npm >/dev/null 2>&1 || missing="$missing npm"
if [ -z "$missing" ]; then
    echo "deps: all packages present"
    exit 0
fi
echo "deps: installing:$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
