#!/usr/bin/env bash
# Builds kube-apiserver and kube-controller-manager v1.20.2 from Debian's `kubernetes` source package into
# "$1/bin", and puts etcd beside them. Recipe and why (Go 1.15, GOPATH mode): shared/DESIGN.md, "Test harness".
# Idempotent: a finished build leaves "$1/bin/.complete" and is reused (a cache restored onto a machine
# without etcd only gets etcd installed and linked again).
set -euo pipefail
dest=${1:?usage: build-kube.sh DEST}
bin="$dest/bin"
if [ -f "$bin/.complete" ] && [ -x "$bin/etcd" ]; then
  echo "kube binaries cached in $bin"
  exit 0
fi
built=false
[ -f "$bin/.complete" ] && built=true
mkdir -p "$bin" "$dest/src"
export DEBIAN_FRONTEND=noninteractive

sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Sources: bookworm deb-src for the kubernetes source package, bullseye for golang-1.15-go.
if [ ! -f /etc/apt/sources.list.d/zeroetl.sources ]; then
  # deb822 with the same Signed-By as the image's debian.sources, else apt refuses the conflicting entries.
  sudo_ tee /etc/apt/sources.list.d/zeroetl.sources >/dev/null <<'LIST'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian
Suites: bullseye
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
LIST
  sudo_ apt-get update -qq
fi
need=()
command -v etcd >/dev/null || need+=(etcd-server)
if [ "$built" = false ]; then
  [ -x /usr/lib/go-1.15/bin/go ] || need+=(golang-1.15-go)
  command -v rsync >/dev/null || need+=(rsync)
  command -v dpkg-source >/dev/null || need+=(dpkg-dev)
  command -v make >/dev/null || need+=(make)
fi
if [ ${#need[@]} -gt 0 ]; then
  sudo_ apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ "$built" = true ]; then
  ln -sfn "$(command -v etcd)" "$bin/etcd"
  echo "kube binaries cached in $bin (etcd linked again)"
  exit 0
fi

cd "$dest/src"
if [ ! -d kubernetes-1.20.2 ]; then
  # Debian names it 1.20.5+really1.20.2; the orig tarball carries the vendored Go tree, and Debian's patches
  # are not needed for these two binaries.
  ls kubernetes_*.orig.tar.* >/dev/null 2>&1 || apt-get source -qq --download-only kubernetes >/dev/null
  mkdir -p unpack && tar xf kubernetes_*.orig.tar.* -C unpack
  mv unpack/* kubernetes-1.20.2 && rmdir unpack
fi
src="$dest/src/kubernetes-1.20.2"
gopath="$dest/gopath"
mkdir -p "$gopath/src/k8s.io"
ln -sfn "$src" "$gopath/src/k8s.io/kubernetes"
(
  cd "$gopath/src/k8s.io/kubernetes"
  export GOPATH="$gopath" GO111MODULE=off GOFLAGS= PATH="/usr/lib/go-1.15/bin:$PATH"
  export KUBE_GIT_VERSION=v1.20.2 KUBE_GIT_TREE_STATE=clean KUBE_GIT_COMMIT=faecb196815e248d3ecfb03c680a4507229c2a56
  make WHAT="cmd/kube-apiserver cmd/kube-controller-manager" >"$dest/build.log" 2>&1 || { tail -40 "$dest/build.log"; exit 1; }
)
cp "$src/_output/bin/kube-apiserver" "$src/_output/bin/kube-controller-manager" "$bin/"
ln -sfn "$(command -v etcd)" "$bin/etcd"
touch "$bin/.complete"
echo "kube binaries built into $bin"
