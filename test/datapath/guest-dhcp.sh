#!/bin/sh
# busybox udhcpc event script of a datapath guest: applies the lease the way a cloud image's DHCP
# client would (address, MTU, RFC 3442 classless routes, else the router) and records every event as
# one JSON line in $CAPK_PODNET_LEASE_LOG, so tests can read exactly what DHCP handed out. DNS is
# recorded, never written to /etc/resolv.conf (that file is the host's).
log() {
  printf '{"event":"%s","atMs":%s,"ip":"%s","mask":"%s","router":"%s","mtu":"%s","hostname":"%s","dns":"%s","staticroutes":"%s","lease":"%s","serverid":"%s"}\n' \
    "$1" "$(date +%s%3N)" "$ip" "$mask" "$router" "$mtu" "$hostname" "$dns" "$staticroutes" "$lease" "$serverid" >>"$CAPK_PODNET_LEASE_LOG"
}
event="$1"
case "$event" in
deconfig)
  log deconfig
  ip addr flush dev "$interface" scope global
  ;;
bound | renew)
  [ -n "$mtu" ] && ip link set dev "$interface" mtu "$mtu"
  ip addr replace "$ip/${mask:-32}" dev "$interface"
  if [ -n "$staticroutes" ]; then
    # RFC 3442: with classless routes present, the router option is ignored.
    set -- $staticroutes
    while [ $# -ge 2 ]; do
      if [ "$2" = 0.0.0.0 ]; then
        ip route replace "$1" dev "$interface" scope link
      else
        ip route replace "$1" via "$2" dev "$interface" onlink
      fi
      shift 2
    done
  elif [ -n "$router" ]; then
    ip route replace default via "${router%% *}" dev "$interface" onlink
  fi
  log "$event"
  ;;
*)
  log "$event"
  ;;
esac
exit 0
