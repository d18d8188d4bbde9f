#!/usr/bin/env bash
# Creates a certificate authority and one certificate per node or client for a TLS Telos cluster
# (see docs/CLUSTER.md). Usage: scripts/make-certs.sh DIR NAME... ; writes DIR/ca.pem, DIR/ca.key
# (kept if present, so later runs add certificates under the same CA) and DIR/NAME.pem,
# DIR/NAME.key for every NAME. Keys are unencrypted: keep DIR readable by the node's user only.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 DIR NAME..." >&2
  exit 2
fi
dir=$1
shift
mkdir -p "$dir"
chmod 700 "$dir"
days=${TELOS_CERT_DAYS:-825}
if [ ! -f "$dir/ca.pem" ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/ca.key" -out "$dir/ca.pem" \
    -days "$days" -subj "/CN=telos-ca" 2>/dev/null
fi
for name in "$@"; do
  openssl req -newkey rsa:2048 -nodes -keyout "$dir/$name.key" -out "$dir/$name.csr" \
    -subj "/CN=$name" 2>/dev/null
  printf 'subjectAltName=DNS:%s,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' \
    "$name" >"$dir/$name.ext"
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -out "$dir/$name.pem" -days "$days" -extfile "$dir/$name.ext" 2>/dev/null
  rm -f "$dir/$name.csr" "$dir/$name.ext"
  chmod 600 "$dir/$name.key"
  echo "$dir/$name.pem $dir/$name.key"
done
