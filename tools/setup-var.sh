#!/bin/sh
# setup-var.sh DIR -- creates DIR with a self-signed certificate for
# localhost, a configuration serving localhost on 5222 (STARTTLS), 5223
# (direct TLS, XEP-0368) and 5443 (HTTPS: WebSocket, BOSH, host-meta), and
# an SQLite database path. Leaves existing
# files alone, so accounts and settings survive `make run` again.
set -e
dir=${1:-var}
mkdir -p "$dir"
if [ ! -f "$dir/cert.pem" ] || [ ! -f "$dir/key.pem" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 \
        -subj /CN=localhost -addext subjectAltName=DNS:localhost \
        -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
    chmod 600 "$dir/key.pem"
    echo "created $dir/cert.pem (self-signed for localhost)"
fi
if [ ! -f "$dir/tern.yaml" ]; then
    cat > "$dir/tern.yaml" <<YAML
# tern configuration created by tools/setup-var.sh; see README.md.
hosts: [localhost]
tls: {cert: $dir/cert.pem, key: $dir/key.pem}
storage: {backend: sqlite, path: $dir/tern.db}
listen:
  - {ip: 127.0.0.1, port: 5222, service: c2s}
  - {ip: 127.0.0.1, port: 5223, service: c2s, tls: direct}
  - {ip: 127.0.0.1, port: 5443, service: http, tls: direct}
  # Federation: serve a real domain with a certificate naming it (and
  # conference.<domain>), publish _xmpp-server._tcp SRV records, then:
  # - {ip: 0.0.0.0, port: 5269, service: s2s}
  # - {ip: 0.0.0.0, port: 5270, service: s2s, tls: direct}
log: {level: info}
YAML
    echo "created $dir/tern.yaml"
fi
