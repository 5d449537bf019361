#!/bin/bash
# compare.sh -- runs the same load-generator scenarios (build/ternbench)
# against tern, Prosody and ejabberd from Debian, in alternation, and writes
# docs/PERFORMANCE.md and bench/results/latest.json (issue 4).
#
# Each (round, scenario, server) gets a freshly started server with a fresh
# data directory, on free loopback ports, with equivalent configurations:
# the same self-signed certificate, one STARTTLS c2s port and one plain-TCP
# c2s port, in-band registration without rate limits, no shapers, logging
# at warn, each server's default embedded storage (tern: SQLite, Prosody:
# internal files, ejabberd: Mnesia), SCRAM-SHA-1 credentials stored hashed
# with 4096 PBKDF2 iterations everywhere. Servers run in the order tern,
# prosody, ejabberd for every scenario of every round.
#
# The certificate is ECDSA P-256 (prime256v1) by default, what certbot
# issues since 2.0 and so what most operators run; CERT_TYPE=rsa makes it
# RSA-2048 as in runs before that choice.
#
# The scenario `sweep` (tern only) holds SWEEP_SIZES idle STARTTLS
# sessions in turn ("max": as many as the descriptor limits allow for the
# server and the load generator, `ulimit -Hn` minus the chat clients and
# SWEEP_FD_MARGIN), records the server RSS per session, and while they are
# held runs chat at a fixed rate from a second ternbench process (its own
# accounts, plain TCP): server CPU per 1,000 messages, p99, lost.
#
# The scenarios `muc` and `muc_large` are the same room fan-out with
# MUC_OCCUPANTS (100) and MUC_LARGE_OCCUPANTS (1,000) occupants.
#
# Usage:  bench/compare.sh            full run (three rounds, about 1 hour)
#         QUICK=1 bench/compare.sh    small sizes, one round (minutes)
#         SERVERS="tern ejabberd" SCENARIOS="chat idle" bench/compare.sh
#         SCENARIOS=sweep SERVERS=tern SWEEP_SIZES="1000 max" ROUNDS=1 \
#             bench/compare.sh
# Sizes and choices are environment variables, listed with their full and
# QUICK defaults below. `compare_report.py render --json FILE --md FILE`
# renders the report again from saved results. Everything started is
# stopped on exit (also on Ctrl-C); every wait is bounded. Needs root
# (apt-get; ejabberd is started as its own user).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY=/usr/bin/python3
REPORT_PY="$ROOT/bench/compare_report.py"
CMDLINE="$(printf '%q ' "$0" "$@")"
SETTINGS="QUICK ROUNDS SERVERS SCENARIOS LOGIN_USERS LOGIN_CLIENTS
    LOGIN_CONCURRENCY IDLE_USERS IDLE_HOLD CHAT_USERS CHAT_WINDOW
    CHAT_DURATION CHAT_WARMUP CHAT_RATE ROSTER_USERS ROSTER_CONTACTS
    MUC_OCCUPANTS MUC_LARGE_OCCUPANTS MUC_JOIN_TIMEOUT MUC_SENDERS MUC_RATE MUC_DURATION SOURCES DOMAIN MECH
    PASSWORD PIN RUN_TIMEOUT START_TIMEOUT SETTLE TERND TERNBENCH RESULTS
    REPORT KEEP_WORK TERN_MUC EJABBERD_BUSY_WAIT CERT_TYPE SWEEP_SIZES
    SWEEP_HOLD SWEEP_CONCURRENCY SWEEP_CHAT_USERS SWEEP_CHAT_RATE
    SWEEP_CHAT_DURATION SWEEP_FD_MARGIN"
ENVLINE=""                   # the settings given in the environment
for v in $SETTINGS; do
    if [ -n "${!v+x}" ]; then ENVLINE+="$v=$(printf '%q' "${!v}") "; fi
done

QUICK=${QUICK:-0}
q() { # q FULL QUICK -- the default for this run
    if [ "$QUICK" = 1 ]; then echo "$2"; else echo "$1"; fi
}
# name                       full      quick
: "${ROUNDS:=$(q 3 1)}"
: "${SERVERS:=tern prosody ejabberd}"
: "${SCENARIOS:=login idle chat chat_rate roster muc muc_large sweep}"
: "${LOGIN_USERS:=$(q 200 100)}"      # accounts; each logs in
: "${LOGIN_CLIENTS:=$(q 2000 400)}"    # ... LOGIN_CLIENTS/LOGIN_USERS times
: "${LOGIN_CONCURRENCY:=$(q 50 50)}"
: "${IDLE_USERS:=$(q 2000 300)}"
: "${IDLE_HOLD:=$(q 10 3)}"
: "${CHAT_USERS:=$(q 200 50)}"
: "${CHAT_WINDOW:=$(q 10 10)}"
: "${CHAT_DURATION:=$(q 20 5)}"
: "${CHAT_WARMUP:=$(q 3 1)}"
: "${CHAT_RATE:=$(q 2000 2000)}"
: "${ROSTER_USERS:=$(q 200 60)}"
: "${ROSTER_CONTACTS:=$(q 50 20)}"
: "${MUC_OCCUPANTS:=$(q 100 30)}"
: "${MUC_LARGE_OCCUPANTS:=$(q 1000 100)}"  # the muc_large scenario
# Seconds for all occupants to be in the room (not measured): a thousand
# joining at once cost each server n^2 presence stanzas first.
: "${MUC_JOIN_TIMEOUT:=$(q 300 60)}"
: "${MUC_SENDERS:=$(q 10 5)}"
: "${MUC_RATE:=$(q 0 0)}"
: "${MUC_DURATION:=$(q 20 5)}"
: "${SWEEP_SIZES:=$(q "1000 5000 max" "300 1000")}"  # idle sessions; "max"
: "${SWEEP_HOLD:=$(q 5 3)}"           # seconds held before RSS is read
: "${SWEEP_CONCURRENCY:=$(q 100 100)}" # logins in flight while opening
: "${SWEEP_CHAT_USERS:=$(q 200 50)}"  # chat clients (pairs) beside them
: "${SWEEP_CHAT_RATE:=$(q 2000 2000)}"
: "${SWEEP_CHAT_DURATION:=$(q 10 5)}"
: "${SWEEP_FD_MARGIN:=$(q 100 100)}"  # descriptors kept free under max
: "${CERT_TYPE:=ec}"      # ec: ECDSA P-256 (certbot's default); rsa: 2048
: "${SOURCES:=127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4}"
: "${DOMAIN:=localhost}"
: "${MECH:=SCRAM-SHA-1}"
: "${PASSWORD:=bench-password}"   # tern wants 8 characters or more
: "${PIN:=0}"             # 1: server on CPU 1, load generator on CPU 0
: "${RUN_TIMEOUT:=600}"   # seconds, hard limit for one ternbench run
: "${START_TIMEOUT:=60}"  # seconds for a server to answer a stream
: "${SETTLE:=2}"          # seconds between a server's start and a run
: "${TERND:=$ROOT/build/ternd}"
: "${TERNBENCH:=$ROOT/build/ternbench}"
: "${RESULTS:=$ROOT/bench/results/latest.json}"
: "${REPORT:=$ROOT/docs/PERFORMANCE.md}"
: "${KEEP_WORK:=0}"       # 1: leave the temp dir (configs, logs) behind
# Erlang's schedulers spin for a while before they sleep; on a machine with
# a spare core that spinning shows up as CPU time that is no work. Off by
# default so that ejabberd's CPU figures count work (EJABBERD_BUSY_WAIT=1:
# Debian's defaults).
: "${EJABBERD_BUSY_WAIT:=0}"
if [ "$EJABBERD_BUSY_WAIT" = 1 ]; then
    EJ_ERL_FLAGS=""
else
    EJ_ERL_FLAGS="+sbwt none +sbwtdcpu none +sbwtdio none"
fi
: "${TERN_MUC:=1}"        # 0: record tern's muc scenario as not implemented

log() { echo "[compare $(date +%H:%M:%S)] $*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (apt-get, server users)"

# ---------------------------------------------------------------------------
# 1. packages and build

ensure_packages() {
    local need=()
    command -v prosody >/dev/null 2>&1 || need+=(prosody)
    [ -x /usr/sbin/ejabberdctl ] || need+=(ejabberd)
    command -v openssl >/dev/null 2>&1 || need+=(openssl)
    command -v taskset >/dev/null 2>&1 || need+=(util-linux)
    [ ${#need[@]} -eq 0 ] && return 0
    log "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    timeout 900 apt-get update -q >/dev/null || true
    timeout 1800 apt-get install -y -q "${need[@]}" >/dev/null ||
        die "apt-get install ${need[*]} failed"
    stop_packaged_daemons
}

# The packages start their daemons on install (where policy-rc.d allows);
# they would hold ports 5222/5269 and CPU, so stop them. Only the packaged
# instances, recognised by their packaged command lines, never anyone's
# own instances with their own configuration files.
packaged_pids() {
    case $1 in
    prosody) pgrep -f '^lua[0-9.]* /usr/bin/prosody( -[DF])?$' ;;
    ejabberd) pgrep -f 'beam.*-mnesia dir "?/var/lib/ejabberd' ;;
    esac 2>/dev/null || true
}

stop_packaged_daemons() {
    local s p
    for s in prosody ejabberd; do
        [ -n "$(packaged_pids $s)" ] || continue
        log "stopping the packaged $s daemon"
        timeout 60 invoke-rc.d "$s" stop >/dev/null 2>&1 || true
        for p in $(packaged_pids $s); do kill "$p" 2>/dev/null || true; done
        for _ in $(seq 1 50); do
            [ -n "$(packaged_pids $s)" ] || break
            sleep 0.2
        done
        for p in $(packaged_pids $s); do
            kill -KILL "$p" 2>/dev/null || true
        done
    done
}

ensure_build() {
    if [ ! -x "$TERND" ] || [ ! -x "$TERNBENCH" ]; then
        log "building tern (make)"
        timeout 1800 make -C "$ROOT" build >/dev/null || die "make failed"
    fi
    [ -x "$TERND" ] || die "$TERND missing after make"
    [ -x "$TERNBENCH" ] || die "$TERNBENCH missing after make"
}

# ---------------------------------------------------------------------------
# 2. servers

WORK=""
SRV_PGID=""      # process group (session) of the running server
SRV_PIDS=""      # comma-separated PIDs sampled by ternbench
SRV_TLS_PORT=""
SRV_PLAIN_PORT=""
SRV_DIR=""

BENCH_PID=""
HOLD_PID=""      # the sweep's idle-session holder (a second ternbench)
cleanup() {
    local rc=$?
    local p
    for p in $BENCH_PID $HOLD_PID; do # timeout(1) passes TERM on
        kill -TERM "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    stop_server || true
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        if [ "$KEEP_WORK" = 1 ]; then
            log "kept $WORK"
        else
            rm -rf "$WORK"
        fi
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# free_ports N -- N distinct free TCP ports on 127.0.0.1, outside the
# ephemeral range (where the load generator's own connections, and their
# TIME_WAIT remains, would collide with them)
free_ports() {
    "$PY" - "$1" <<'EOF'
import random, socket, sys
lo, hi = map(int, open("/proc/sys/net/ipv4/ip_local_port_range").read()
             .split())
pool = range(10000, lo) if lo > 12000 else range(hi + 1, 65536)
socks = []
for port in random.sample(pool, min(len(pool), 500)):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))   # no SO_REUSEADDR: TIME_WAIT counts
    except OSError:
        s.close()
        continue
    socks.append(s)
    if len(socks) == int(sys.argv[1]):
        break
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# alive PID -- true while PID exists and is not a zombie
alive() {
    local st
    st=$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null) ||
        return 1
    [ -n "$st" ] && [ "$st" != Z ]
}

stop_server() {
    [ -n "$SRV_PGID" ] || return 0
    local pids="${SRV_PIDS//,/ }"
    kill -TERM -- "-$SRV_PGID" 2>/dev/null || true
    for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
    for _ in $(seq 1 100); do        # at most 10 s
        local any=0
        for p in $pids $SRV_PGID; do alive "$p" && any=1; done
        [ $any = 0 ] && break
        sleep 0.1
    done
    kill -KILL -- "-$SRV_PGID" 2>/dev/null || true
    for p in $pids; do kill -KILL "$p" 2>/dev/null || true; done
    for _ in $(seq 1 50); do
        local any=0
        for p in $pids; do alive "$p" && any=1; done
        [ $any = 0 ] && break
        sleep 0.1
    done
    SRV_PGID=""
    SRV_PIDS=""
}

# wait_ready NAME -- until the STARTTLS port answers a stream header with
# features and the plain port too, or START_TIMEOUT passes
wait_ready() {
    local name=$1
    "$PY" "$REPORT_PY" probe --host 127.0.0.1 --domain "$DOMAIN" \
        --ports "$SRV_TLS_PORT,$SRV_PLAIN_PORT" --timeout "$START_TIMEOUT" \
        --pids "$SRV_PIDS" ||
        { log "$name did not come up; log:"; tail -n 30 "$SRV_DIR"/*.log \
              >&2 2>/dev/null || true; return 1; }
}

# PIN=1: the command prefixes that pin the server and the load generator
PIN_SRV=()
PIN_BENCH=()
if [ "$PIN" = 1 ]; then
    PIN_SRV=(taskset -c 1)
    PIN_BENCH=(taskset -c 0)
fi

# config_NAME writes NAME's configuration into a new SRV_DIR for the ports
# in SRV_*_PORT; launch_NAME starts it from SRV_DIR and sets SRV_PGID and
# SRV_PIDS.

config_tern() {
    local d=$WORK/tern.$RUN_ID
    mkdir -p "$d"
    cp "$WORK/cert.pem" "$WORK/key.pem" "$d/"
    cat > "$d/tern.yaml" <<EOF
# tern configuration written by bench/compare.sh
hosts: [$DOMAIN]
# session_tickets: false -- neither Prosody nor ejabberd resumes a TLS
# session (tls_info probes all three), so neither does tern here
tls: {cert: $d/cert.pem, key: $d/key.pem, session_tickets: false}
storage: {backend: sqlite, path: $d/tern.db}
listen:
  - {ip: 127.0.0.1, port: $SRV_TLS_PORT, service: c2s, tls: starttls}
  - {ip: 127.0.0.1, port: $SRV_PLAIN_PORT, service: c2s, tls: none}
log: {level: warn}
c2s:
  require_tls: false
  auth_ip_failures: 0
modules:
  ping: ~
  disco: ~
  version: ~
  roster: ~
  presence: ~
  offline: ~
  blocking: ~
  register: {allow_registration: true, ip_limit: 1000000}
  time: ~
  last: ~
  vcard: ~
  private: ~
  contact: ~
  caps: ~
  muc: ~
  pubsub: ~
  pep: ~
  pep_vcard: ~
  bookmarks: ~
muc: {host: conference.$DOMAIN}
EOF
    SRV_DIR=$d
}

launch_tern() {
    local d=$SRV_DIR
    # setsid: the server leads its own process group, killed as a whole.
    setsid "${PIN_SRV[@]}" "$TERND" -c "$d/tern.yaml" \
        >>"$d/stdout.log" 2>>"$d/ternd.log" </dev/null &
    SRV_PGID=$!
    disown "$SRV_PGID"   # no job-status chatter from bash when it exits
    SRV_PIDS=$!
}

config_prosody() {
    local d=$WORK/prosody.$RUN_ID
    mkdir -p "$d/data"
    cp "$WORK/cert.pem" "$WORK/key.pem" "$d/"
    cat > "$d/prosody.cfg.lua" <<EOF
-- Prosody configuration written by bench/compare.sh
run_as_root = true        -- the benchmark runs as root; nothing else differs
daemonize = false
data_path = "$d/data"
log = { warn = "$d/prosody.log" }
network_backend = "epoll"  -- the 0.12 default, spelled out
interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { $SRV_TLS_PORT, $SRV_PLAIN_PORT }
c2s_direct_tls_ports = { }
s2s_ports = { }
component_ports = { }
http_ports = { }
https_ports = { }
c2s_require_encryption = false
allow_registration = true
-- no registration throttle: min_seconds_between_registrations and
-- registration_throttle_max unset (mod_register_limits then never
-- throttles), and 127.0.0.0/8 allowlisted besides
registration_allowlist = { "127.0.0.0/8", "::1" }
authentication = "internal_hashed"
default_iteration_count = 4096   -- as tern and ejabberd (default 10000)
storage = "internal"
c2s_stanza_size_limit = 262144
network_settings = { tcp_backlog = 1024 }   -- as tern's listen backlog
-- mod_limits (rate limits) is not loaded
modules_enabled = {
    "roster"; "saslauth"; "tls"; "disco"; "ping"; "version"; "time";
    "lastactivity"; "vcard"; "private"; "blocklist"; "register";
    "server_contact_info"; "pep";
}
modules_disabled = { "s2s"; "s2s_auth_certs"; "limits" }
ssl = { certificate = "$d/cert.pem"; key = "$d/key.pem" }
VirtualHost "$DOMAIN"
Component "conference.$DOMAIN" "muc"
Component "pubsub.$DOMAIN" "pubsub"
    restrict_room_creation = false
EOF
    SRV_DIR=$d
}

launch_prosody() {
    local d=$SRV_DIR
    setsid "${PIN_SRV[@]}" prosody -F --config "$d/prosody.cfg.lua" \
        >>"$d/stdout.log" 2>&1 </dev/null &
    SRV_PGID=$!
    disown "$SRV_PGID"
    # setsid execs prosody, whose #! line execs lua: $! is the Lua process
    SRV_PIDS=$!
}

config_ejabberd() {
    local d=$WORK/ejabberd.$RUN_ID dist node
    dist=$(free_ports 1)
    node="tb$RUN_ID$$@localhost"
    mkdir -p "$d/spool" "$d/log"
    cat "$WORK/key.pem" "$WORK/cert.pem" > "$d/cert.pem"
    cp /etc/ejabberd/inetrc "$d/inetrc" 2>/dev/null || true
    cat > "$d/ejabberd.yml" <<EOF
# ejabberd configuration written by bench/compare.sh
hosts: [$DOMAIN]
loglevel: warning
certfiles: ["$d/cert.pem"]
acme: {auto: false}
listen:
  - port: $SRV_TLS_PORT
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls: true
    starttls_required: true
    max_stanza_size: 262144
    backlog: 1024
  - port: $SRV_PLAIN_PORT
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls: true
    max_stanza_size: 262144
    backlog: 1024
# listen backlog 1024 as tern's (ejabberd's default is 5);
# no 'shaper' on the listeners and no shaper rules: nothing is shaped
auth_method: [internal]
auth_password_format: scram
auth_scram_hash: sha
registration_timeout: infinity
acl:
  local: {user_regexp: ""}
access_rules:
  local: {allow: local}
  c2s: {allow: all}
  register: {allow: all}
  muc_create: {allow: all}
modules:
  mod_ping: {}
  mod_disco: {}
  mod_version: {show_os: false}
  mod_roster: {}
  mod_offline: {}
  mod_privacy: {}
  mod_blocking: {}
  mod_register: {ip_access: all, access: register}
  mod_time: {}
  mod_last: {}
  mod_vcard: {}
  mod_private: {}
  mod_caps: {}
  mod_pubsub:
    host: "pubsub.$DOMAIN"
    plugins: [flat, pep]
  mod_muc:
    host: "conference.$DOMAIN"
    access: all
    access_create: muc_create
    access_persistent: all
    max_users: 10000
    history_size: 20
    default_room_options: {max_users: 10000}
EOF
    cat > "$d/ejabberdctl.cfg" <<EOF
ERLANG_NODE=$node
ERL_DIST_PORT=$dist
ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0 $EJ_ERL_FLAGS"
EOF
    chown -R ejabberd: "$d"
    chmod 600 "$d/cert.pem"
    SRV_DIR=$d
    EJ_NODE=$node
}

launch_ejabberd() {
    local d=$SRV_DIR node=$EJ_NODE
    # As the ejabberd user (ejabberdctl would su to it anyway), with its
    # own node name, Mnesia spool and distribution port (no epmd daemon).
    # setpriv, not runuser: runuser's PAM session (pam_limits) would reset
    # the descriptor limit to 1024, and ejabberd could not accept more
    # than about 1,000 connections where the others get `ulimit -Hn`.
    setsid "${PIN_SRV[@]}" setpriv --reuid ejabberd --regid ejabberd \
        --init-groups env HOME="$d" \
        /usr/sbin/ejabberdctl --config-dir "$d" \
        --config "$d/ejabberd.yml" --ctl-config "$d/ejabberdctl.cfg" \
        --logs "$d/log" --spool "$d/spool" foreground \
        >>"$d/stdout.log" 2>&1 </dev/null &
    SRV_PGID=$!
    disown "$SRV_PGID"
    local pid=""
    for _ in $(seq 1 200); do        # at most 20 s for the VM to exist
        pid=$(pgrep -f "beam.smp .*-sname $node" 2>/dev/null | head -n1 ||
              true)
        [ -n "$pid" ] && break
        alive "$SRV_PGID" || break
        sleep 0.1
    done
    [ -n "$pid" ] || { cat "$d/stdout.log" >&2; return 1; }
    SRV_PIDS=$pid
}

# start_server NAME -- starts NAME on fresh ports and data; waits until it
# answers; sets SRV_*
start_server() {
    local name=$1 ports
    for _ in 1 2; do                 # a second try on other ports
        ports=$(free_ports 2)
        SRV_TLS_PORT=${ports% *}
        SRV_PLAIN_PORT=${ports#* }
        RUN_ID=$((RUN_ID + 1))
        "config_$name" && "launch_$name" && wait_ready "$name" && return 0
        stop_server
    done
    return 1
}
RUN_ID=0
EJ_NODE=""

# restart_server NAME -- stops NAME and starts it again on the same ports
# and data (the accounts registered stay; the garbage of registering them
# does not)
restart_server() {
    local name=$1
    stop_server
    "launch_$name" || return 1
    wait_ready "$name" || return 1
    sleep "$SETTLE"
}

# ---------------------------------------------------------------------------
# 3. scenarios

# bench_args SCENARIO -- ternbench arguments after the connection options
bench_args() {
    case $1 in
    login) echo "login --tls starttls --port $SRV_TLS_PORT" \
               "--users $LOGIN_USERS --clients $LOGIN_CLIENTS" \
               "--concurrency $LOGIN_CONCURRENCY" ;;
    idle) echo "idle --tls starttls --port $SRV_TLS_PORT" \
              "--users $IDLE_USERS --hold $IDLE_HOLD" ;;
    chat) echo "chat --tls none --port $SRV_PLAIN_PORT --users $CHAT_USERS" \
              "--rate 0 --window $CHAT_WINDOW --duration $CHAT_DURATION" \
              "--warmup $CHAT_WARMUP" ;;
    chat_rate) echo "chat --tls none --port $SRV_PLAIN_PORT" \
                   "--users $CHAT_USERS --rate $CHAT_RATE" \
                   "--duration $CHAT_DURATION --warmup $CHAT_WARMUP" ;;
    roster) echo "roster --tls starttls --port $SRV_TLS_PORT" \
                "--users $ROSTER_USERS --contacts $ROSTER_CONTACTS" \
                "--setup-timeout $RUN_TIMEOUT" ;;
    muc|muc_large) echo "muc --tls none --port $SRV_PLAIN_PORT" \
             "--occupants $(users "$1") --senders $MUC_SENDERS" \
             "--rate $MUC_RATE --duration $MUC_DURATION" \
             "--warmup $CHAT_WARMUP --join-timeout $MUC_JOIN_TIMEOUT" ;;
    *) die "unknown scenario $1" ;;
    esac
}

# TERN_MUC=0 records tern's muc scenario as not implemented (as before
# tern had MUC). The sweep runs against tern only (its purpose is tern's own scaling).
supported() {
    case "$1:$2" in
    tern:muc|tern:muc_large) [ "$TERN_MUC" = 1 ] ;;
    *:sweep) [ "$1" = tern ] ;;
    *) return 0 ;;
    esac
}

# users SCENARIO -- how many accounts the scenario needs
users() {
    case $1 in
    login) echo "$LOGIN_USERS" ;;
    idle) echo "$IDLE_USERS" ;;
    chat|chat_rate) echo "$CHAT_USERS" ;;
    roster) echo "$ROSTER_USERS" ;;
    muc) echo "$MUC_OCCUPANTS" ;;
    muc_large) echo "$MUC_LARGE_OCCUPANTS" ;;
    esac
}

# bench CMDFILE OUT ARGS... -- runs ternbench ARGS, bounded in time
bench() {
    local base=$1 rc=0
    shift
    echo "ternbench $*" > "$base.cmd"
    # In the background so that a signal reaches our trap at once.
    timeout -k 10 $((RUN_TIMEOUT + 30)) "${PIN_BENCH[@]}" "$TERNBENCH" "$@" \
        > "$base.out" 2> "$base.err" &
    BENCH_PID=$!
    wait "$BENCH_PID" || rc=$?
    BENCH_PID=""
    echo "$rc" > "$base.rc"
    return $rc
}

server_log_tail() {
    find "$SRV_DIR" -name '*.log' -size +0 -exec tail -n 15 {} + \
        2>/dev/null | cut -c1-300 | tail -n 30
}

run_one() { # run_one ROUND SCENARIO SERVER
    local round=$1 scen=$2 name=$3
    local out="$WORK/runs/$scen.$name.$round"
    local common=(--host 127.0.0.1 --domain "$DOMAIN" --sources "$SOURCES"
                  --mech "$MECH" --password "$PASSWORD"
                  --timeout "$RUN_TIMEOUT")
    if [ "$scen" = sweep ]; then
        if supported "$name" sweep; then
            local size
            for size in $SWEEP_LIST; do
                run_sweep "$round" "$name" "$size"
            done
        else
            log "round $round sweep $name: not run (the sweep is tern only)"
        fi
        return 0
    fi
    if ! supported "$name" "$scen"; then
        printf 'result: not_implemented\n' > "$out.out"
        echo 0 > "$out.rc"
        log "round $round $scen $name: not implemented"
        return 0
    fi
    # CPU used by everything else on the machine just before the run
    "$PY" "$REPORT_PY" load --seconds 1 --exclude $$ > "$out.bg" || true
    # 1. a fresh server; the accounts, by in-band registration over plain
    # TCP; 2. the same server restarted; 3. the measured run.
    if ! start_server "$name"; then
        printf 'result: server_failed_to_start\n' > "$out.out"
        echo 1 > "$out.rc"
        server_log_tail > "$out.note"
        stop_server
        return 0
    fi
    [ -z "${TLS_INFO[$name]:-}" ] && TLS_INFO[$name]=$(tls_info)
    log "round $round $scen $name: registering $(users "$scen") accounts"
    if ! bench "$WORK/reg" login --port "$SRV_PLAIN_PORT" --tls none \
            --users "$(users "$scen")" --clients 0 --register "${common[@]}"; then
        log "  registration failed: $(tail -n 3 "$WORK/reg.err" |
                                      tr '\n' ' ')"
        { echo "result: registration_failed"; cat "$WORK/reg.out"; } \
            > "$out.out"
        cp "$WORK/reg.err" "$out.err"
        echo 1 > "$out.rc"
        stop_server
        return 0
    fi
    if [ "$scen" = roster ]; then
        # The subscriptions, through the protocol, in a run of its own; the
        # measured run finds the rosters complete and only does the storm.
        log "round $round $scen $name: subscribing (setup, not measured)"
        # shellcheck disable=SC2046  # bench_args prints a list of words
        if ! bench "$WORK/prep" $(bench_args roster) "${common[@]}"; then
            log "  roster setup failed: $(tail -n 3 "$WORK/prep.err" |
                                          tr '\n' ' ')"
            { echo "result: setup_failed"; cat "$WORK/prep.out"; } \
                > "$out.out"
            cp "$WORK/prep.err" "$out.err"
            echo 1 > "$out.rc"
            stop_server
            return 0
        fi
        grep -E '^setup_s:' "$WORK/prep.out" | sed 's/^/  /' >&2 || true
        cp "$WORK/prep.out" "$out.prep"
    fi
    if ! restart_server "$name"; then
        printf 'result: server_failed_to_restart\n' > "$out.out"
        echo 1 > "$out.rc"
        server_log_tail > "$out.note"
        stop_server
        return 0
    fi
    local args rc=0
    read -r -a args <<< "$(bench_args "$scen")"
    args+=("${common[@]}" --server-pid "$SRV_PIDS")
    log "round $round $scen $name: ternbench ${args[*]}"
    bench "$out" "${args[@]}" || rc=$?
    if [ "$rc" != 0 ]; then
        log "  exit $rc: $(tail -n 3 "$out.err" | tr '\n' ' ')"
    fi
    local keys="result|cpu_ms_per_login|rss_kib_per_session|logins_per_s"
    keys+="|cpu_s_per_1000_stanzas|msgs_per_s|stanzas_per_s|latency_p99_ms"
    keys+="|lost|client_cpu_seconds"
    grep -E "^($keys):" "$out.out" | tr '\n' ' ' | sed 's/^/  /' >&2 || true
    echo >&2
    if ! alive "${SRV_PIDS%%,*}"; then
        log "  $name died during the run; its log:"
        { echo "server died during the run"; server_log_tail; } > "$out.note"
        cat "$out.note" >&2
    elif [ "$rc" != 0 ]; then
        server_log_tail > "$out.note"
    fi
    stop_server
    [ "$KEEP_WORK" = 1 ] || rm -rf "$SRV_DIR"
}

# sweep_fail OUT RESULT -- records a sweep size that did not get measured
sweep_fail() {
    { echo "result: $2"; cat "$1.size"; } > "$1.out"
    echo 1 > "$1.rc"
    server_log_tail > "$1.note"
}

# run_sweep ROUND SERVER SIZE -- one size of the scale sweep: a fresh
# server with SIZE + SWEEP_CHAT_USERS accounts, restarted; a ternbench
# `idle` process opens SIZE STARTTLS sessions, reads the server RSS after
# SWEEP_HOLD seconds and writes a ready file; then, with the sessions still
# held, a second ternbench runs `chat` at SWEEP_CHAT_RATE over plain TCP
# with its own accounts (prefix "chat"); then the holder lets go. Two
# processes, so that each stays within the descriptor limit. The run's
# .out holds the idle figures as they are and the chat figures prefixed
# with chat_.
run_sweep() {
    local round=$1 name=$2 size=$3
    local n=$size label=$size
    [ "$size" = max ] && n=$SWEEP_MAX
    local out="$WORK/runs/sweep-$n.$name.$round"
    local common=(--host 127.0.0.1 --domain "$DOMAIN" --sources "$SOURCES"
                  --mech "$MECH" --password "$PASSWORD")
    printf 'size_label: %s\nsessions_requested: %s\n' "$label" "$n" \
        > "$out.size"
    "$PY" "$REPORT_PY" load --seconds 1 --exclude $$ > "$out.bg" || true
    if ! start_server "$name"; then
        sweep_fail "$out" server_failed_to_start
        stop_server
        return 0
    fi
    [ -z "${TLS_INFO[$name]:-}" ] && TLS_INFO[$name]=$(tls_info)
    log "round $round sweep $name $label: registering $n + \
$SWEEP_CHAT_USERS accounts"
    local pre
    for pre in bench:$n chat:$SWEEP_CHAT_USERS; do
        if ! bench "$WORK/reg" login --port "$SRV_PLAIN_PORT" --tls none \
                --users "${pre#*:}" --user-prefix "${pre%%:*}" --clients 0 \
                --register --concurrency "$SWEEP_CONCURRENCY" \
                "${common[@]}" --timeout "$RUN_TIMEOUT"; then
            log "  registration failed: $(tail -n 3 "$WORK/reg.err" |
                                          tr '\n' ' ')"
            cp "$WORK/reg.err" "$out.err"
            sweep_fail "$out" registration_failed
            stop_server
            return 0
        fi
    done
    if ! restart_server "$name"; then
        sweep_fail "$out" server_failed_to_restart
        stop_server
        return 0
    fi
    local ready="$WORK/sweep.ready" stop="$WORK/sweep.stop" rc=0 hold_rc=0
    rm -f "$ready" "$stop"
    local hold=(idle --tls starttls --port "$SRV_TLS_PORT" --users "$n"
                --concurrency "$SWEEP_CONCURRENCY" --hold "$SWEEP_HOLD"
                --ready-file "$ready" --stop-file "$stop"
                --linger "$RUN_TIMEOUT" "${common[@]}"
                --timeout $((2 * RUN_TIMEOUT)) --server-pid "$SRV_PIDS")
    echo "ternbench ${hold[*]}" > "$out.cmd"
    log "round $round sweep $name $label: ternbench ${hold[*]}"
    timeout -k 10 $((2 * RUN_TIMEOUT + 30)) "${PIN_BENCH[@]}" "$TERNBENCH" \
        "${hold[@]}" > "$out.hold" 2> "$out.err" &
    HOLD_PID=$!
    local t_end=$(( $(date +%s) + RUN_TIMEOUT ))
    while [ ! -e "$ready" ] && alive "$HOLD_PID" &&
          [ "$(date +%s)" -lt "$t_end" ]; do
        sleep 0.5
    done
    if [ -e "$ready" ]; then
        local chat=(chat --tls none --port "$SRV_PLAIN_PORT"
                    --users "$SWEEP_CHAT_USERS" --user-prefix chat
                    --rate "$SWEEP_CHAT_RATE"
                    --duration "$SWEEP_CHAT_DURATION"
                    --warmup "$CHAT_WARMUP" "${common[@]}"
                    --timeout "$RUN_TIMEOUT" --server-pid "$SRV_PIDS")
        echo "ternbench ${chat[*]}" >> "$out.cmd"
        log "  $(tr '\n' ' ' < "$ready")"
        log "  ternbench ${chat[*]}"
        bench "$out.chat" "${chat[@]}" || rc=$?
        cat "$out.chat.err" >> "$out.err"
    else
        log "  the idle sessions were not established"
        rc=1
    fi
    touch "$stop"
    wait "$HOLD_PID" || hold_rc=$?
    HOLD_PID=""
    {
        cat "$out.size"
        # the holder's figures, without its final verdict
        grep -vE '^(result|failures):' "$out.hold" || true
        [ -e "$out.chat.out" ] && grep -vE '^(result|failures):' \
            "$out.chat.out" | sed 's/^/chat_/'
        echo "failures: $(awk -F': ' '/^failures:/ {s += $2} END {print s+0}' \
            "$out.hold" "$out.chat.out" 2>/dev/null)"
        if [ "$rc" = 0 ] && [ "$hold_rc" = 0 ]; then
            echo "result: ok"
        else
            echo "result: fail"
        fi
    } > "$out.out"
    echo $(( rc != 0 ? rc : hold_rc )) > "$out.rc"
    local keys="sessions_established|sessions_alive_end|rss_kib_per_session"
    keys+="|chat_cpu_s_per_1000_stanzas|chat_latency_p99_ms|chat_lost|result"
    grep -E "^($keys):" "$out.out" | tr '\n' ' ' | sed 's/^/  /' >&2 || true
    echo >&2
    if ! alive "${SRV_PIDS%%,*}"; then
        log "  $name died during the run"
        { echo "server died during the run"; server_log_tail; } > "$out.note"
    elif [ "$rc" != 0 ] || [ "$hold_rc" != 0 ]; then
        log "  exit $rc/$hold_rc: $(tail -n 3 "$out.err" | tr '\n' ' ')"
        server_log_tail > "$out.note"
    fi
    rm -f "$ready" "$stop"
    stop_server
    [ "$KEEP_WORK" = 1 ] || rm -rf "$SRV_DIR"
}

# tls_info -- protocol and cipher the STARTTLS port negotiates with
# OpenSSL's defaults (the load generator's too), and whether a second
# connection offering the first one's session resumes it
tls_info() {
    local sess=$WORK/tls_info.session info reused
    rm -f "$sess"
    # sleep: TLS 1.3 tickets arrive after the handshake
    info=$( (sleep 1) | timeout 15 openssl s_client -starttls xmpp \
        -xmpphost "$DOMAIN" -connect "127.0.0.1:$SRV_TLS_PORT" \
        -sess_out "$sess" 2>/dev/null |
        awk '/^New, /{print $2, $NF; exit}' || true)
    reused=no
    if [ -s "$sess" ] && (sleep 1) | timeout 15 openssl s_client \
        -starttls xmpp -xmpphost "$DOMAIN" \
        -connect "127.0.0.1:$SRV_TLS_PORT" -sess_in "$sess" 2>/dev/null |
        grep -q '^Reused, '; then
        reused=yes
    fi
    rm -f "$sess"
    echo "$info, resumption $reused"
}

server_version() {
    case $1 in
    tern) git -C "$ROOT" describe --always --dirty 2>/dev/null ||
              echo unknown ;;
    *) dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo unknown ;;
    esac
}

# ---------------------------------------------------------------------------
# main

ensure_packages
stop_packaged_daemons
ensure_build
ulimit -n "$(ulimit -Hn)"   # the same descriptor limit for every server

# The sweep's largest size: the server holds the idle sessions and the chat
# clients, the holder the idle sessions; both have `ulimit -Hn`
# descriptors, less a margin for listeners, the store, libuv and stdio.
NOFILE=$(ulimit -Hn)
[ "$NOFILE" = unlimited ] && NOFILE=1048576
SWEEP_MAX=$((NOFILE - SWEEP_CHAT_USERS - SWEEP_FD_MARGIN))
SWEEP_LIST=""
for s in $SWEEP_SIZES; do
    case $s in
    max) ;;
    *[!0-9]*|"") die "SWEEP_SIZES: $s is neither a number nor max" ;;
    *) [ "$s" -le "$SWEEP_MAX" ] ||
           die "SWEEP_SIZES: $s is above max ($SWEEP_MAX)" ;;
    esac
    SWEEP_LIST+="$s "
done

WORK=$(mktemp -d /tmp/tern-compare.XXXXXX)
chmod 755 "$WORK"            # ejabberd runs as its own user
mkdir -p "$WORK/runs"
# One self-signed certificate for all servers alike.
case $CERT_TYPE in
ec) NEWKEY=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1)
    CERT_DESC="ECDSA P-256" ;;
rsa) NEWKEY=(-newkey rsa:2048); CERT_DESC="RSA-2048" ;;
*) die "CERT_TYPE is ec or rsa, not $CERT_TYPE" ;;
esac
openssl req -x509 "${NEWKEY[@]}" -nodes -days 30 -subj "/CN=$DOMAIN" \
    -addext "subjectAltName=DNS:$DOMAIN,DNS:conference.$DOMAIN" \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null ||
    die "openssl req ($CERT_DESC) failed"
declare -A TLS_INFO=()

START=$(date -u +%Y-%m-%dT%H:%M:%SZ)
T0=$(date +%s)
log "work dir $WORK; servers: $SERVERS; scenarios: $SCENARIOS;" \
    "rounds: $ROUNDS"
for round in $(seq 1 "$ROUNDS"); do
    for scen in $SCENARIOS; do
        for name in $SERVERS; do
            run_one "$round" "$scen" "$name"
        done
    done
done
ELAPSED=$(( $(date +%s) - T0 ))

{
    echo "start=$START"
    echo "elapsed_s=$ELAPSED"
    echo "command=${ENVLINE}${CMDLINE}"
    echo "cert=$CERT_DESC"
    for v in $SETTINGS; do echo "setting.$v=${!v}"; done
    for name in $SERVERS; do
        echo "version.$name=$(server_version "$name")"
        echo "tls.$name=${TLS_INFO[$name]:-}"
    done
} > "$WORK/meta.txt"
mkdir -p "$(dirname "$RESULTS")" "$(dirname "$REPORT")"
"$PY" "$REPORT_PY" report --runs "$WORK/runs" --meta "$WORK/meta.txt" \
    --json "$RESULTS" --md "$REPORT"
log "wrote $RESULTS and $REPORT in ${ELAPSED}s"
