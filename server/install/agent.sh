#!/bin/sh
# NMSlite agent installer (Linux). Served by an NMSlite server at /install/agent.sh with the server's
# address, its certificate pins and the SHA-256 of each agent binary filled in below.
#
#   curl -fsS -k --pinnedpubkey 'sha256//…' https://SERVER:8443/install/agent.sh \
#     | NMSLITE_ENROLL_TOKEN='…' sudo --preserve-env=NMSLITE_ENROLL_TOKEN sh -s -- --token-env NMSLITE_ENROLL_TOKEN
#
# Steps: check the machine, download the agent for this architecture over the pinned connection,
# verify its SHA-256, enroll it (the server's certificate pinned by fingerprint), install it and
# start the systemd unit. Any failure stops the script with a message; nothing is installed unless
# the binary verified and enrolled. Everything runs inside main(), so a truncated download runs nothing.
set -eu

SERVER_URL=__NMSLITE_SERVER_URL__
SERVER_WSS=__NMSLITE_SERVER_WSS__
PIN=__NMSLITE_PIN__
FINGERPRINT=__NMSLITE_FINGERPRINT__
VERSION=__NMSLITE_VERSION__
SHA256_LINUX_X64=__NMSLITE_SHA256_LINUX_X64__
SHA256_LINUX_ARM64=__NMSLITE_SHA256_LINUX_ARM64__
SIZE_LINUX_X64=__NMSLITE_SIZE_LINUX_X64__
SIZE_LINUX_ARM64=__NMSLITE_SIZE_LINUX_ARM64__

say() { printf 'nmslite-agent install: %s\n' "$*" >&2; }
die() {
  printf 'nmslite-agent install: error: %s\n' "$*" >&2
  exit 1
}

usage() {
  cat >&2 <<USAGE
Usage: sh agent.sh --token-env VAR [--root DIR] [--prefix DIR] [--state-dir DIR] [--no-service]

  --token-env VAR   read the one-time enrollment token from the environment variable VAR
                    (never from the command line: it would show in ps and in shell history)
  --root DIR        install under DIR instead of / (the unit is written but not started)
  --prefix DIR      install the binary to PREFIX/bin (default /usr/local)
  --state-dir DIR   the agent's state: identity, schedule, spool (default /var/lib/nmslite-agent)
  --no-service      do not write or start the systemd unit

Server: $SERVER_URL (agent $VERSION)
USAGE
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d' ' -f1
  elif command -v openssl >/dev/null 2>&1; then
    openssl dgst -sha256 -r "$1" | cut -d' ' -f1
  else
    die "no SHA-256 tool found (sha256sum, shasum or openssl): install coreutils"
  fi
}

main() {
  TOKEN_ENV=''
  ROOT=''
  PREFIX='/usr/local'
  STATE_DIR='/var/lib/nmslite-agent'
  SERVICE=1
  while [ $# -gt 0 ]; do
    case "$1" in
      --token-env) [ $# -ge 2 ] || die "--token-env needs the name of an environment variable"; TOKEN_ENV=$2; shift 2 ;;
      --token-env=*) TOKEN_ENV=${1#*=}; shift ;;
      --root) [ $# -ge 2 ] || die "--root needs a directory"; ROOT=$2; shift 2 ;;
      --root=*) ROOT=${1#*=}; shift ;;
      --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; PREFIX=$2; shift 2 ;;
      --prefix=*) PREFIX=${1#*=}; shift ;;
      --state-dir) [ $# -ge 2 ] || die "--state-dir needs a directory"; STATE_DIR=$2; shift 2 ;;
      --state-dir=*) STATE_DIR=${1#*=}; shift ;;
      --no-service) SERVICE=0; shift ;;
      --token | --token=*)
        die "the token is never taken from the command line (ps and shell history would show it): set an environment variable and pass --token-env NAME" ;;
      -h | --help) usage; exit 0 ;;
      *) usage; die "unknown option '$1'" ;;
    esac
  done

  # --- checks before anything is downloaded or written ---
  [ -n "$TOKEN_ENV" ] || die "--token-env VAR is required (the enrollment token from POST /api/v1/agents, in that variable)"
  case "$TOKEN_ENV" in
    [!A-Za-z_]* | *[!A-Za-z0-9_]*) die "--token-env must name an environment variable (letters, digits, _), got '$TOKEN_ENV'" ;;
  esac
  eval "TOKEN=\${$TOKEN_ENV:-}"
  [ -n "$TOKEN" ] || die "the environment variable $TOKEN_ENV is empty or not set (with sudo, pass it on: sudo --preserve-env=$TOKEN_ENV ...)"
  export "${TOKEN_ENV?}"
  case "$PREFIX" in /*) ;; *) die "--prefix must be an absolute path (got '$PREFIX')" ;; esac
  case "$STATE_DIR" in /*) ;; *) die "--state-dir must be an absolute path (got '$STATE_DIR')" ;; esac
  if [ -n "$ROOT" ]; then
    case "$ROOT" in /*) ;; *) die "--root must be an absolute path (got '$ROOT')" ;; esac
    ROOT=${ROOT%/}
  elif [ "$(id -u)" != 0 ]; then
    die "run as root (sudo) to install into the system, or pass --root DIR"
  fi

  [ "$(uname -s)" = Linux ] || die "this script installs the Linux agent; this is $(uname -s) (Windows: /install/agent.ps1)"
  machine=$(uname -m)
  case "$machine" in
    x86_64 | amd64) ARCH=x64; SHA=$SHA256_LINUX_X64; SIZE=$SIZE_LINUX_X64 ;;
    aarch64 | arm64) ARCH=arm64; SHA=$SHA256_LINUX_ARM64; SIZE=$SIZE_LINUX_ARM64 ;;
    *) die "unsupported architecture '$machine': NMSlite agents are built for x86_64 and aarch64" ;;
  esac
  [ -n "$SHA" ] || die "the server $SERVER_URL has no agent binary for linux-$ARCH (not built there: run npm run build:agent on the server and restart it)"
  command -v curl >/dev/null 2>&1 || die "curl is not installed (apt-get install curl / dnf install curl)"

  BIN_DIR="$ROOT$PREFIX/bin"
  STATE="$ROOT$STATE_DIR"
  UNIT="$ROOT/etc/systemd/system/nmslite-agent.service"
  if [ -e "$STATE/identity.json" ]; then
    die "an agent is already enrolled in $STATE (identity.json): remove that file to enroll again, or pass another --state-dir"
  fi
  if [ "$SERVICE" = 1 ] && [ -z "$ROOT" ]; then
    if ! command -v systemctl >/dev/null 2>&1 || [ ! -d /run/systemd/system ]; then
      die "systemd is not running here: rerun with --no-service and start '$PREFIX/bin/nmslite-agent run --home $STATE_DIR' with your init system"
    fi
  fi

  TMP=$(mktemp -d "${TMPDIR:-/tmp}/nmslite-agent-install.XXXXXX") || die "cannot create a temporary directory"
  trap 'rm -rf "$TMP"' EXIT
  trap 'rm -rf "$TMP"; exit 130' INT TERM

  # --- download and verify ---
  say "downloading the agent $VERSION for linux-$ARCH ($SIZE bytes) from $SERVER_URL"
  rc=0
  curl -fsS -k --pinnedpubkey "$PIN" --proto '=https' -o "$TMP/nmslite-agent" "$SERVER_URL/install/agent-linux-$ARCH" || rc=$?
  [ "$rc" = 0 ] || die "downloading $SERVER_URL/install/agent-linux-$ARCH failed (curl exit $rc; 90 means the server's key is not the pinned one)"
  got=$(sha256_of "$TMP/nmslite-agent")
  [ "$got" = "$SHA" ] \
    || die "SHA-256 mismatch for agent-linux-$ARCH: expected $SHA, got $got. The download is corrupt or was tampered with; nothing was installed"
  say "SHA-256 verified: $got"
  chmod 755 "$TMP/nmslite-agent"
  ran=$("$TMP/nmslite-agent" --version 2>&1) || die "the downloaded agent does not run here: $ran (a noexec $TMP? set TMPDIR to another folder)"

  # --- enroll (the server certificate pinned by its SHA-256 fingerprint) ---
  mkdir -p "$STATE" || die "cannot create the state directory $STATE"
  chmod 700 "$STATE"
  say "enrolling with $SERVER_WSS (certificate SHA-256 $FINGERPRINT)"
  rc=0
  "$TMP/nmslite-agent" enroll --server "$SERVER_WSS" --token-env "$TOKEN_ENV" --fingerprint "$FINGERPRINT" --home "$STATE" \
    >"$TMP/enroll.json" || rc=$?
  [ "$rc" = 0 ] || die "enrollment failed (agent exit $rc, its message is above); nothing was installed"
  agent_id=$(sed -n 's/^ *"agent_id": *\([0-9][0-9]*\).*/\1/p' "$TMP/enroll.json")
  say "enrolled as agent ${agent_id:-?}"

  # --- install (rename into place: a running old binary keeps its file) ---
  mkdir -p "$BIN_DIR" || die "cannot create $BIN_DIR"
  cp "$TMP/nmslite-agent" "$BIN_DIR/.nmslite-agent.new" || die "cannot write $BIN_DIR (disk full?)"
  chmod 755 "$BIN_DIR/.nmslite-agent.new"
  mv -f "$BIN_DIR/.nmslite-agent.new" "$BIN_DIR/nmslite-agent" || die "cannot install $BIN_DIR/nmslite-agent"
  say "installed $BIN_DIR/nmslite-agent ($ran)"

  if [ "$SERVICE" = 0 ]; then
    say "done (no service): start the agent with $PREFIX/bin/nmslite-agent run --home $STATE_DIR"
    return 0
  fi

  # --- systemd unit: a system user of its own, CAP_NET_RAW only for ping/fping ---
  if [ -z "$ROOT" ] && ! id nmslite-agent >/dev/null 2>&1; then
    if command -v useradd >/dev/null 2>&1; then
      useradd --system --no-create-home --home-dir "$STATE_DIR" --shell /usr/sbin/nologin nmslite-agent \
        || die "cannot create the system user nmslite-agent"
    else
      adduser -S -H -h "$STATE_DIR" -s /sbin/nologin nmslite-agent || die "cannot create the system user nmslite-agent"
    fi
  fi
  [ -n "$ROOT" ] || chown -R nmslite-agent "$STATE" || die "cannot hand $STATE to the user nmslite-agent"
  mkdir -p "$(dirname "$UNIT")" || die "cannot create $(dirname "$UNIT")"
  cat >"$UNIT" <<UNIT_FILE || die "cannot write $UNIT"
[Unit]
Description=NMSlite edge agent
Documentation=$SERVER_URL/api/v1/openapi.json
Wants=network-online.target
After=network-online.target

[Service]
User=nmslite-agent
ExecStart=$PREFIX/bin/nmslite-agent run --home $STATE_DIR
Restart=on-failure
RestartSec=5
AmbientCapabilities=CAP_NET_RAW
CapabilityBoundingSet=CAP_NET_RAW
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
ReadWritePaths=$STATE_DIR

[Install]
WantedBy=multi-user.target
UNIT_FILE
  if [ -n "$ROOT" ]; then
    say "done: unit written to $UNIT (not started: --root installs into another tree)"
    return 0
  fi
  systemctl daemon-reload || die "systemctl daemon-reload failed"
  systemctl enable --now nmslite-agent.service || die "cannot start nmslite-agent.service (journalctl -u nmslite-agent)"
  say "done: nmslite-agent.service is running (systemctl status nmslite-agent)"
}

main "$@"
