#!/bin/sh
# Installs the Debian packages yoloc needs to build, test and run.
# Idempotent and quiet when nothing is missing. When not root, prints the
# exact apt-get command and stops with status 1.
set -e
PKGS="build-essential cmake pkg-config libdnnl-dev libyaml-dev libturbojpeg0-dev libjpeg62-turbo-dev
libpng-dev libcairo2-dev libopenmpi-dev openmpi-bin libprotobuf-c-dev protobuf-c-compiler libonnx-dev zlib1g-dev"
missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != "0" ]; then
    echo "yoloc needs these Debian packages:$missing"
    echo "run: sudo apt-get install -y$missing"
    exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q $missing >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q $missing >/dev/null; }
