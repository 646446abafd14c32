#!/bin/sh
# keepalived's notify script for modelgate: called as `notify.sh TYPE NAME STATE PRIORITY` on each
# VRRP state change (keepalived.conf, `notify`). It logs every change and, when this node leaves
# the pair (STOP: keepalived itself is stopping), makes the gateway drain: SIGTERM turns its
# GET /ready to 503, stops it accepting, and lets requests in flight finish within
# shutdown.drainTimeout. BACKUP and FAULT leave the gateway running: it is the standby that takes
# the address back if the other node fails (and in FAULT it is already not ready).
#
# MODELGATE_STOP: the command that drains the gateway; default `systemctl kill --kill-whom=main
# -s TERM modelgate` (deploy/systemd/). Set it to `kill -TERM PID` without systemd.
state="$3"
logger -t modelgate-vrrp "instance $2 is now $state (priority ${4:-?})" 2>/dev/null || true
echo "modelgate-vrrp: instance $2 is now $state"
case "$state" in
  STOP)
    ${MODELGATE_STOP:-systemctl kill --kill-whom=main -s TERM modelgate}
    ;;
esac
exit 0
