#!/bin/sh
# keepalived's vrrp_script for modelgate: succeeds when the local gateway answers 200 on its
# admin API's GET /ready (docs/admin-api.md). A gateway that is down, draining or has no usable
# model server fails the check, and keepalived gives the virtual address to the other node.
#
# --max-time stays well under the script's `interval` (1 s): a gateway that hangs must count as
# a failure, not hold the check. Usage: check-ready.sh [URL], default http://127.0.0.1:9090/ready.
exec curl --silent --fail --max-time 0.8 --output /dev/null "${1:-http://127.0.0.1:9090/ready}"
