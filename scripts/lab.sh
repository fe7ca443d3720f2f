#!/usr/bin/env bash
# A network-namespace lab to try vigil (and keepalived) by hand, as root:
#
#   scripts/lab.sh up [N] [NAME]   a bridge, N router namespaces (default 2) and a client,
#                                  NAME-r1..rN at 192.0.2.1..N/24 and 2001:db8::1..N/64,
#                                  NAME-client at 192.0.2.200/24 and 2001:db8::200/64
#   scripts/lab.sh down [NAME]     remove everything the lab made (also after a failed up)
#   scripts/lab.sh exec NS CMD...  run a command in NAME-NS, e.g. exec r1 ./bin/vigil -n -f x.conf
#
# NAME defaults to "vlab". Only documentation-range addresses are used, and nothing touches the
# host's own interfaces: the bridge lives in its own namespace.
set -euo pipefail
cmd=${1:-}
case "$cmd" in
up)
  n=${2:-2}
  lab=${3:-vlab}
  trap '"$0" down "$lab"' ERR
  ip netns add "$lab-br"
  ip -n "$lab-br" link add br0 type bridge
  ip -n "$lab-br" link set br0 up
  hosts=()
  for i in $(seq 1 "$n"); do hosts+=("r$i"); done
  hosts+=(client)
  for h in "${hosts[@]}"; do
    ns="$lab-$h"
    ip netns add "$ns"
    ip netns exec "$ns" sysctl -q -w net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
    ip -n "$ns" link set lo up
    ip link add "$lab-$h" netns "$ns" type veth peer name "p-$h" netns "$lab-br"
    ip -n "$ns" link set "$lab-$h" name eth0
    ip -n "$lab-br" link set "p-$h" master br0 up
    ip -n "$ns" link set eth0 up
    if [ "$h" = client ]; then host=200; else host=${h#r}; fi
    ip -n "$ns" addr add "192.0.2.$host/24" dev eth0
    ip -n "$ns" addr add "2001:db8::$host/64" dev eth0
    echo "$ns eth0 192.0.2.$host/24 2001:db8::$host/64"
  done
  ;;
down)
  lab=${2:-vlab}
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^$lab-(br|client|r[0-9]+)$" || true); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del "$ns"
  done
  ;;
exec)
  shift
  ns=$1
  shift
  exec ip netns exec "${LAB:-vlab}-$ns" "$@"
  ;;
*)
  sed -n '2,12p' "$0"
  exit 2
  ;;
esac
