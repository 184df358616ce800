# shellcheck shell=bash
# Set up everything devbox and its tests need: system packages (as root, with apt-get) and a
# Python virtualenv at .venv with devbox installed in editable mode, test tools included.
#
# Sourced by scripts/demo and scripts/test (it can also be run on its own: bash scripts/setup.sh).
# Idempotent: it installs only what is missing, and does nothing when everything is in place.
# On return the current directory is the repository root, and REPO_ROOT and VENV are set.

set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO_ROOT/.venv"
cd "$REPO_ROOT"

# Debian/Ubuntu packages: the sandbox and layer tools devbox drives (bubblewrap, mmdebstrap,
# uidmap, util-linux, mount), skopeo to pull images (`base = "oci:REF"`) and zstd to unpack zstd layers, the shells the tests
# start (zsh, fish), shellcheck for the shell scripts (scripts/test, pre-commit), and Python for
# .venv. For the image tests and benchmarks: a local registry (docker-registry), clients that
# build, push and pull images (podman with runc, buildah), an independent unpacker to check
# against (umoci), htpasswd for the registry's bcrypt logins (apache2-utils), openssl for its
# test CA, and getcap/setcap (libcap2-bin) to check file
# capabilities in unpacked layers. For the sharing tests: catatonit (the init of the pods
# `podman kube play` makes) and Node.js for the reference devcontainer CLI (below). For boxes
# with a network of their own: iproute2 (`ip`, to bring up a box's loopback) and slirp4netns
# (the user-mode stack of `network = "private"`, as rootless podman uses it).
SETUP_APT_PACKAGES=(
  bubblewrap mmdebstrap uidmap util-linux mount skopeo zstd zsh fish shellcheck
  python3 python3-venv python3-pip ca-certificates
  docker-registry podman runc buildah umoci apache2-utils openssl libcap2-bin catatonit
  iproute2 slirp4netns
)
# For the tests only (SETUP_FOR_TESTS=1; using devbox does not need them): the display tests'
# X server without a screen (xvfb), xauth for its cookie, xdotool to find a window, xwd (in
# x11-apps) and ImageMagick for screenshots, and ssh-agent (openssh-client) for the agent's; the
# reference checker of desktop entries (desktop-file-validate) and GLib's reader and launcher of
# them (gio, and python3-gi for its Exec parser), which the desktop entry tests run on the
# entries devbox writes; a PulseAudio server (and pactl) for the audio test.
SETUP_TEST_PACKAGES=(xvfb xauth xdotool x11-apps imagemagick openssh-client
  desktop-file-utils libglib2.0-bin python3-gi pulseaudio pulseaudio-utils)
# For the services benchmark only (bench/services.py), and only when run as root (the bench
# runs as root; using or testing devbox does not need it): Debian's podman-compose, the peer
# `devbox up` is measured against.
SETUP_BENCH_PACKAGES=(podman-compose)
# Node.js and npm, unless the machine has them already (from another source: Debian's npm
# package would conflict with a Node.js that ships its own npm)
if ! command -v npm >/dev/null 2>&1; then
  SETUP_APT_PACKAGES+=(nodejs npm)
fi
# Private networks of unprivileged users (slirp4netns) open /dev/net/tun, which Debian's udev
# makes 0666; a machine without udev (a container, some VMs) leaves the kernel's 0600, so the
# tests' created users could not have one. Root only, for the tests.
_setup_tun() {
  ((EUID == 0)) || return 0
  [[ -c /dev/net/tun ]] || return 0
  if [[ "$(stat -c %a /dev/net/tun)" != 666 ]]; then
    _setup_log "making /dev/net/tun usable by every user (0666, as Debian's udev does)"
    chmod 0666 /dev/net/tun
  fi
}
# The reference implementation of the devcontainer spec, which the tests run on the
# devcontainer.json devbox writes. 0.83.0: the last release that runs on Debian 12's Node.js 18.
DEVCONTAINER_CLI_VERSION="0.83.0"

_setup_log() { printf 'setup: %s\n' "$*" >&2; }

# Is a Debian package installed (not merely known to dpkg, e.g. removed with its config left)?
_setup_installed() {
  local status
  status="$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" || return 1
  [[ "$status" == "install ok installed" ]]
}

_setup_system_packages() {
  if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    _setup_log "this script sets up Debian and Ubuntu (apt-get) machines only;"
    _setup_log "install these packages (or their equivalents) yourself: ${SETUP_APT_PACKAGES[*]}"
    return 1
  fi
  local pkg missing=()
  for pkg in "${SETUP_APT_PACKAGES[@]}"; do
    _setup_installed "$pkg" || missing+=("$pkg")
  done
  if ((${#missing[@]} == 0)); then
    return 0
  fi
  if ((EUID != 0)); then
    _setup_log "missing system packages: ${missing[*]}"
    _setup_log "install them, then run this again:"
    printf '  sudo apt-get install -y --no-install-recommends %s\n' "${missing[*]}" >&2
    return 1
  fi
  _setup_log "installing system packages: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -q -y --no-install-recommends "${missing[@]}"
}

_setup_extra_packages() {  # what: the list's purpose; then the packages
  local what=$1 pkg missing=()
  shift
  ((EUID == 0)) || return 0
  for pkg in "$@"; do
    _setup_installed "$pkg" || missing+=("$pkg")
  done
  if ((${#missing[@]} == 0)); then
    return 0
  fi
  _setup_log "installing $what: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -q -y --no-install-recommends "${missing[@]}"
}

_setup_venv() {
  if [[ -e "$VENV" ]] && ! "$VENV/bin/python" -c 'import sys, venv' >/dev/null 2>&1; then
    _setup_log "the virtualenv $VENV is broken; recreating it"
    rm -rf -- "$VENV"
  fi
  if [[ ! -e "$VENV" ]]; then
    _setup_log "creating .venv"
    python3 -m venv "$VENV"
  fi
  local stamp="$VENV/.devbox-installed"
  # .venv/bin/devbox is a copy of devbox/front.sh made by the install (editable too): reinstall
  # when it differs, and when .venv predates it (its devbox was the Python console script).
  if [[ -x "$VENV/bin/devbox-cli" && -f "$stamp" && "$REPO_ROOT/pyproject.toml" -ot "$stamp" ]] &&
    cmp -s "$REPO_ROOT/devbox/front.sh" "$VENV/bin/devbox"; then
    return 0
  fi
  _setup_log "installing devbox and its test tools into .venv (pip install -e '.[test]')"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[test]'
  touch "$stamp"
}

# The devcontainer CLI into .venv/npm (repo-local; nothing global), once per version.
_setup_devcontainer_cli() {
  local prefix="$VENV/npm"
  local installed="$prefix/node_modules/@devcontainers/cli/package.json"
  if [[ -f "$installed" ]] && grep -q "\"version\": \"$DEVCONTAINER_CLI_VERSION\"" "$installed"; then
    return 0
  fi
  _setup_log "installing @devcontainers/cli $DEVCONTAINER_CLI_VERSION into .venv/npm"
  # node trusts its own CA list, not the system's: a proxy or mirror whose CA is in the system
  # bundle (as on machines behind a TLS-inspecting proxy) is trusted through the bundle
  local bundle=/etc/ssl/certs/ca-certificates.crt
  if [[ -z "${NODE_EXTRA_CA_CERTS:-}" && -r "$bundle" ]]; then
    export NODE_EXTRA_CA_CERTS="$bundle"
  fi
  npm install --prefix "$prefix" --no-audit --no-fund --no-save --loglevel=error \
    "@devcontainers/cli@$DEVCONTAINER_CLI_VERSION" >/dev/null
}

_setup_system_packages || exit 1
_setup_extra_packages "the benchmarks' packages" "${SETUP_BENCH_PACKAGES[@]}"
_setup_venv
# the tests' tools only (scripts/test sets SETUP_FOR_TESTS): the demo does not need them
if [[ -n "${SETUP_FOR_TESTS:-}" ]]; then
  _setup_extra_packages "the tests' packages" "${SETUP_TEST_PACKAGES[@]}"
  _setup_devcontainer_cli
  _setup_tun
fi
_setup_log "ready ($VENV)"
