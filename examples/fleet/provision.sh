#!/bin/sh
# provision.sh: brings one device to the fleet's desired state, explained line by line
# in docs/fleet.md. Safe to run again and again: a device already there stays as it is.
# Prints the pod's status as one JSON document on stdout; notices go to stderr.
set -eu

# What this device should run, and where its pieces are. Each can be set from the
# environment (the fleet test gives every simulated device its own).
IMAGE=${IMAGE:-fleet.example.com/hello:1.0.0}
KEY=${KEY:-/etc/fleet/release-key.asc}
CA_FILE=${CA_FILE:-}
RKT=${RKT:-rkt}
RKT_DIR=${RKT_DIR:-/var/lib/rkt}
RKT_CONFIG=${RKT_CONFIG:-/etc/rkt}
STATE=${STATE:-/var/lib/fleet}
HEALTH=${HEALTH:-/bin/hello check 8080}
READY_TIMEOUT=${READY_TIMEOUT:-60s}

rkt() { command "$RKT" --dir="$RKT_DIR" --local-config="$RKT_CONFIG" "$@"; }

prefix=${IMAGE%%:*}
uuid_file=$STATE/pod.uuid
mkdir -p "$STATE"

rkt trust --prefix="$prefix" --skip-fingerprint-review "$KEY" >&2

rkt fetch --pull-policy=new ${CA_FILE:+--ca-file="$CA_FILE"} "$IMAGE" >&2

old=$(cat "$uuid_file" 2>/dev/null || true)
uuid=$(rkt prepare --pull-policy=never --uuid-file-save="$uuid_file" "$IMAGE")

if [ -n "$old" ] && [ "$old" != "$uuid" ] && rkt status "$old" 2>/dev/null | grep -qx 'state=running'; then
  rkt stop "$old" >&2
  rkt status --wait=30s "$old" >/dev/null
fi

if rkt status "$uuid" | grep -qx 'state=prepared'; then
  setsid "$RKT" --dir="$RKT_DIR" --local-config="$RKT_CONFIG" run-prepared "$uuid" \
    </dev/null >>"$STATE/pod.log" 2>&1 &
fi

# shellcheck disable=SC2086 # HEALTH is a command line: split into words on purpose
exec "$RKT" --dir="$RKT_DIR" --local-config="$RKT_CONFIG" \
  status --wait-ready="$READY_TIMEOUT" --format=json "$uuid" -- $HEALTH
