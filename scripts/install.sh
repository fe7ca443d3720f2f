#!/bin/sh
# Installs vigil on this host: the code with its runtime dependencies (npm ci --omit=dev) in
# PREFIX (default /opt/vigil) or used where it is (--in-place), a /usr/local/bin/vigil symlink,
# the systemd unit, and an example config in /etc/vigil if there is none. Running it again
# updates the code and the unit and keeps the config. It never starts or enables anything
# unless asked with --enable.
#
#   scripts/install.sh [--prefix DIR] [--in-place] [--destdir DIR] [--no-deps] [--enable] [--dry-run]
#
#   --prefix DIR   where the code goes (default /opt/vigil)
#   --in-place     use this checkout as it is (no copy; npm ci only if node_modules is missing)
#   --destdir DIR  stage everything under DIR (packaging, tests); systemctl is not called
#   --no-deps      skip npm ci (you provide node_modules)
#   --enable       systemctl enable --now vigil (after a daemon-reload)
#   --dry-run      print what would be done, change nothing
set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
prefix=/opt/vigil
destdir=
in_place=0
deps=1
enable=0
dry=0

usage() { sed -n '2,16s/^# \{0,1\}//p' "$0"; }

while [ $# -gt 0 ]; do
  case $1 in
    --prefix) [ $# -ge 2 ] || { usage >&2; exit 2; }; prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#*=}; shift ;;
    --destdir) [ $# -ge 2 ] || { usage >&2; exit 2; }; destdir=$2; shift 2 ;;
    --destdir=*) destdir=${1#*=}; shift ;;
    --in-place) in_place=1; shift ;;
    --no-deps) deps=0; shift ;;
    --enable) enable=1; shift ;;
    --dry-run|-n) dry=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done

case $prefix in /*) ;; *) echo "install.sh: --prefix must be absolute" >&2; exit 2 ;; esac
[ "$in_place" = 1 ] && prefix=$src
if [ -n "$destdir" ] && [ "$enable" = 1 ]; then
  echo "install.sh: --enable makes no sense with --destdir" >&2
  exit 2
fi

# every change goes through run, so --dry-run shows exactly what a real run does
run() {
  if [ "$dry" = 1 ]; then
    printf '+'
    printf ' %s' "$@"
    printf '\n'
  else
    "$@"
  fi
}
say() { echo "install.sh: $*"; }

if [ "$dry" = 0 ] && [ -z "$destdir" ] && [ "$(id -u)" != 0 ]; then
  echo "install.sh: run as root (or with --dry-run / --destdir)" >&2
  exit 1
fi

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  if [ "$dry" = 1 ] || [ -n "$destdir" ]; then say "warning: Node.js 20 or newer is needed to run vigil (found: ${node_major})"
  else echo "install.sh: Node.js 20 or newer is needed (found: ${node_major})" >&2; exit 1; fi
fi

app=$destdir$prefix
bindir=$destdir/usr/local/bin
unitdir=$destdir/etc/systemd/system
confdir=$destdir/etc/vigil

# 1. the code. Each item is replaced whole, so files removed upstream do not linger.
if [ "$in_place" = 0 ]; then
  say "code -> $app"
  run mkdir -p "$app"
  for item in bin src dist scripts plugins config contrib docs package.json package-lock.json tsconfig.json README.md; do
    [ -e "$src/$item" ] || continue
    run rm -rf "$app/$item"
    run cp -R "$src/$item" "$app/$item"
  done
  run chmod -R go-w "$app"
fi
if [ "$deps" = 1 ]; then
  if [ "$in_place" = 1 ] && [ -d "$src/node_modules" ]; then
    say "node_modules already in $src; left as it is"
  else
    say "runtime dependencies (npm ci --omit=dev) in $app"
    run sh -c "cd '$app' && npm ci --omit=dev --no-audit --no-fund"
  fi
fi
# the build (npm ci makes it; a checkout used in place, or --no-deps, may not have it yet)
if [ ! -f "$app/dist/vigil.mjs" ]; then
  say "build (node scripts/build.mjs) in $app"
  run sh -c "cd '$app' && node scripts/build.mjs --quiet"
fi

# 2. the command
say "command -> $bindir/vigil"
run mkdir -p "$bindir"
run ln -sfn "$prefix/bin/vigil" "$bindir/vigil"

# 3. the unit (its documentation link follows the prefix)
say "unit -> $unitdir/vigil.service"
run mkdir -p "$unitdir"
if [ "$dry" = 1 ]; then
  echo "+ sed 's|/opt/vigil/|$prefix/|g' $src/contrib/systemd/vigil.service > $unitdir/vigil.service"
else
  sed "s|/opt/vigil/|$prefix/|g" "$src/contrib/systemd/vigil.service" > "$unitdir/vigil.service.tmp"
  chmod 0644 "$unitdir/vigil.service.tmp"
  mv "$unitdir/vigil.service.tmp" "$unitdir/vigil.service"
fi

# 4. a config, only if there is none: an operator's file is never touched. 0600: it may hold
# auth_pass and plugin tokens.
if [ -e "$confdir/vigil.yaml" ] || [ -e "$confdir/keepalived.conf" ]; then
  say "config: $confdir has one; kept"
else
  say "config: example -> $confdir/vigil.yaml (edit it before enabling)"
  run mkdir -p "$confdir"
  run install -m 0600 "$src/config/example.yaml" "$confdir/vigil.yaml"
fi

# 5. systemd: told about the unit; started only when asked
if [ -z "$destdir" ] && [ -d /run/systemd/system ]; then
  run systemctl daemon-reload
  if [ "$enable" = 1 ]; then
    run systemctl enable --now vigil.service
  else
    say "not started; when the config is ready: systemctl enable --now vigil"
  fi
elif [ "$enable" = 1 ]; then
  echo "install.sh: systemd is not running here; nothing enabled" >&2
  exit 1
fi
say "done"
