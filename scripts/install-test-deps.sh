#!/usr/bin/env bash
# Installs the Debian packages the test suite needs: iproute2 (ip netns, veth, bridge),
# keepalived (the interop peer), tcpdump (wire captures), nftables, chromium (status page),
# faketime (wall-clock jumps preloaded into test daemons), wrk and haproxy (the load balancer
# benchmark: wrk is the load generator, HAProxy the peer balancer and the real servers' responder),
# openssl (certificates for the SSL_GET tests), python3 (the sd_notify and syslog receivers), procps
# (sysctl in the labs' namespaces), util-linux (unshare, nsenter), etcd-server and etcd-client (the
# three-member etcd cluster of the election tests and benchmark).
# `node scripts/test.mjs --check-machine` says whether anything the tests need is still missing;
# under CI=true the test command itself refuses to run without it.
# Run as root; CI does.
# Does nothing when everything is already there, so it is cheap to call every time.
set -euo pipefail
need=()
command -v ip >/dev/null || need+=(iproute2)
command -v sysctl >/dev/null || need+=(procps)
{ command -v unshare && command -v nsenter; } >/dev/null || need+=(util-linux)
command -v keepalived >/dev/null || need+=(keepalived)
command -v tcpdump >/dev/null || need+=(tcpdump)
command -v nft >/dev/null || need+=(nftables)
# Debian's Chromium for the status page test (playwright-core drives it; it never downloads a browser)
[ -x /usr/bin/chromium ] || need+=(chromium)
# libfaketime, preloaded into daemons in the wall-clock-jump fault test (never the machine's clock)
[ -e /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 ] || need+=(faketime)
# the load balancer benchmark (scripts/bench/lvs.ts): load generator, peer balancer, responder
command -v wrk >/dev/null || need+=(wrk)
command -v haproxy >/dev/null || need+=(haproxy)
# the example configs' health check and notify script (their -t must come out clean)
command -v curl >/dev/null || need+=(curl)
command -v logger >/dev/null || need+=(bsdutils)
# the checker tests make self-signed certificates for SSL_GET and genhash -S
command -v openssl >/dev/null || need+=(openssl)
# stands in for systemd's notify socket and for syslog's /dev/log (test/lib/notify-receiver.ts)
command -v python3 >/dev/null || need+=(python3)
# the etcd election lab (test/lib/etcd-lab.ts): real members, and etcdctl to inspect them
command -v etcd >/dev/null || need+=(etcd-server)
command -v etcdctl >/dev/null || need+=(etcd-client)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-test-deps: need ${need[*]}; run this script as root" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${need[@]}"
# keepalived's and haproxy's packages start a service on some hosts; the tests and benchmarks
# run their own instances.
for svc in keepalived haproxy etcd; do
  if command -v systemctl >/dev/null && systemctl is-active -q "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done
