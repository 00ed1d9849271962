#!/usr/bin/env bash
# The certform quickstart, end to end: installs Pebble if missing, starts it (with
# pebble-challtestsrv as its DNS, answering 127.0.0.1 for every name) on free loopback
# ports, builds certform, then runs init, plan, apply and a second plan that must say
# `No changes.`. Finally it checks the result with openssl. Pebble is stopped on exit.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
run="$here/.run"

need() { command -v "$1" >/dev/null 2>&1; }
if ! need pebble || ! need pebble-challtestsrv || ! need openssl || ! need curl || ! need python3; then
  echo "==> Installing pebble, openssl, curl and python3 (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pebble openssl curl python3 >/dev/null
fi

echo "==> Building certform"
(cd "$repo" && cargo build --quiet --bin certform)
certform="$repo/target/debug/certform"

rm -rf "$run" "$repo/state/quickstart.certstate" "$repo/state/quickstart.certstate.backup"
mkdir -p "$run"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
acme_port=$(free_port); mgmt_port=$(free_port); http_port=$(free_port); tls_port=$(free_port)
dns_port=$(free_port); dns_mgmt_port=$(free_port)

echo "==> Making a throwaway CA for Pebble's HTTPS listener"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=certform quickstart CA" -keyout "$run/ca.key" -out "$run/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
  -keyout "$run/pebble.key" -out "$run/pebble.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' > "$run/pebble.ext"
openssl x509 -req -in "$run/pebble.csr" -CA "$run/ca.pem" -CAkey "$run/ca.key" -CAcreateserial \
  -days 2 -extfile "$run/pebble.ext" -out "$run/pebble.pem" 2>/dev/null

cat > "$run/pebble.json" <<JSON
{ "pebble": {
    "listenAddress": "127.0.0.1:$acme_port",
    "managementListenAddress": "127.0.0.1:$mgmt_port",
    "certificate": "$run/pebble.pem",
    "privateKey": "$run/pebble.key",
    "httpPort": $http_port,
    "tlsPort": $tls_port,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": false
} }
JSON

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

echo "==> Starting pebble-challtestsrv (DNS on 127.0.0.1:$dns_port) and Pebble (127.0.0.1:$acme_port)"
pebble-challtestsrv -dns01 "127.0.0.1:$dns_port" -http01 "" -https01 "" -tlsalpn01 "" \
  -management "127.0.0.1:$dns_mgmt_port" -defaultIPv4 127.0.0.1 -defaultIPv6 "" >"$run/challtestsrv.log" 2>&1 &
pids+=($!)
PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 \
  pebble -config "$run/pebble.json" -dnsserver "127.0.0.1:$dns_port" -strict=false >"$run/pebble.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  curl -fs --cacert "$run/ca.pem" "https://127.0.0.1:$acme_port/dir" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fs --cacert "$run/ca.pem" "https://127.0.0.1:$acme_port/dir" >/dev/null || { cat "$run/pebble.log"; exit 1; }

cat > "$run/pebble.vars" <<VARS
directory   = "https://127.0.0.1:$acme_port/dir"
ca_bundle   = "$run/ca.pem"
http_listen = "127.0.0.1:$http_port"
VARS

export CERTFORM_IDENTITY="$run/identity.txt"
cf() { echo; echo "\$ certform $*"; "$certform" --chdir "$here" --var-file "$run/pebble.vars" "$@"; }

cf init
cf plan
cf apply --auto-approve
set +e
cf plan --detailed-exitcode
code=$?
set -e
[ "$code" -eq 0 ] || { echo "The plan after apply should have no changes (exit $code)"; exit 1; }

echo
echo "==> Checking the result"
curl -fs --cacert "$run/ca.pem" "https://127.0.0.1:$mgmt_port/roots/0" > "$run/pebble-root.pem"
for cert in www api; do
  dir="$run/tls/$cert"
  openssl verify -CAfile "$run/pebble-root.pem" -untrusted "$dir/chain.pem" "$dir/cert.pem"
  echo "$dir/privkey.pem has mode $(stat -c %a "$dir/privkey.pem")"
done
if grep -q "PRIVATE KEY" "$repo/state/quickstart.certstate"; then
  echo "The state holds a private key in the clear!"; exit 1
fi
echo "The state file $repo/state/quickstart.certstate holds no key in the clear."
echo
echo "Quickstart complete: certificates in $run/tls, state in state/quickstart.certstate."
