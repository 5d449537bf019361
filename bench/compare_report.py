#!/usr/bin/python3
"""compare_report.py -- helper of bench/compare.sh.

  probe   waits until an XMPP server answers a stream header with its
          stream features on each given port (RFC 6120 4.2-4.3), bounded
          by --timeout; fails early if a watched PID exits.
  report  reads the per-run outputs of build/ternbench ("key: value"
          lines) that compare.sh collected, writes them as JSON
          (bench/results/latest.json) and renders docs/PERFORMANCE.md:
          machine, date, command, one table per scenario with median and
          range over the rounds per server, the ratios tern/Prosody and
          tern/ejabberd, and the targets of issue 4 with whether tern
          meets each, computed from the medians. The scale sweep (tern
          only) gets a table of its own, one row per size.
  render  renders docs/PERFORMANCE.md again from a saved JSON file.
  merge   takes the runs of some scenarios from another saved JSON file
          (a separate compare.sh run, e.g. SCENARIOS=sweep) into one,
          replacing that file's runs of those scenarios, records where
          they came from, and renders the result.
  load    prints the CPU other processes use (is the machine quiet?).

The report ends with bench/performance_notes.md if that file exists: the
hand-written analysis (where every byte of a session goes, why a target is
missed) that the generated tables cannot give.

Only the Python standard library is used (run with /usr/bin/python3).
"""
import argparse
import datetime
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import time

SERVERS = ["tern", "prosody", "ejabberd"]
LABEL = {"tern": "tern", "prosody": "Prosody", "ejabberd": "ejabberd"}


# --------------------------------------------------------------------------
# probe

def _alive(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("State:"):
                    return "Z" not in line.split()[1]
    except OSError:
        return False
    return True


def _features(host, port, domain, timeout):
    """True if host:port answers a stream header with <features>."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall((
                "<?xml version='1.0'?><stream:stream to='%s' "
                "xmlns='jabber:client' "
                "xmlns:stream='http://etherx.jabber.org/streams' "
                "version='1.0'>" % domain).encode())
            data = b""
            end = time.monotonic() + timeout
            while time.monotonic() < end and len(data) < 65536:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
                if re.search(rb"<(stream:)?features", data) and \
                        re.search(rb"</(stream:)?features>|<(stream:)?"
                                  rb"features[^>]*/>", data):
                    try:
                        s.sendall(b"</stream:stream>")
                    except OSError:
                        pass
                    return True
    except OSError:
        return False
    return False


def cmd_probe(a):
    ports = [int(p) for p in a.ports.split(",") if p]
    pids = [int(p) for p in a.pids.split(",") if p]
    deadline = time.monotonic() + a.timeout
    pending = list(ports)
    while pending and time.monotonic() < deadline:
        for pid in pids:
            if not _alive(pid):
                print("probe: server pid %d exited" % pid, file=sys.stderr)
                return 1
        pending = [p for p in pending
                   if not _features(a.host, p, a.domain, 2.0)]
        if pending:
            time.sleep(0.2)
    if pending:
        print("probe: no stream features on port(s) %s within %ss" %
              (",".join(map(str, pending)), a.timeout), file=sys.stderr)
        return 1
    return 0


# --------------------------------------------------------------------------
# load: what else uses the CPU

def _proc_times():
    """{pid: (ppid, comm, utime+stime ticks)} for every process."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        comm = st[st.find("(") + 1:st.rfind(")")]
        rest = st[st.rfind(")") + 2:].split()
        try:
            out[int(d)] = (int(rest[1]), comm, int(rest[11]) + int(rest[12]))
        except (IndexError, ValueError):
            continue
    return out


def cmd_load(a):
    """Prints the CPU (percent of one core) that processes outside the
    tree of --exclude used over --seconds, and the busiest of them."""
    t0 = _proc_times()
    time.sleep(a.seconds)
    t1 = _proc_times()
    tree = {a.exclude, os.getpid()}
    grew = True
    while grew:
        grew = False
        for pid, (ppid, _c, _t) in t1.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    hz = os.sysconf("SC_CLK_TCK")
    used = []
    for pid, (_p, comm, t) in t1.items():
        if pid in tree or pid not in t0:
            continue
        d = (t - t0[pid][2]) * 100.0 / hz / a.seconds
        if d > 0:
            used.append((d, pid, comm))
    used.sort(reverse=True)
    print("background_cpu_pct: %.0f" % sum(u[0] for u in used))
    print("background_top: %s" % ", ".join(
        "%s[%d] %.0f%%" % (c, p, d) for d, p, c in used[:3]))
    return 0


# --------------------------------------------------------------------------
# report: reading runs

def _num(v):
    try:
        if re.fullmatch(r"-?\d+", v):
            return int(v)
        return float(v)
    except ValueError:
        return v


def read_runs(d):
    """Every <scenario>[-<size>].<server>.<round>.out in d as a dict
    (a size only for the sweep: one run per number of idle sessions)."""
    runs = []
    for fn in sorted(os.listdir(d)):
        m = re.fullmatch(r"([a-z_]+)(?:-(\d+))?\.([a-z]+)\.(\d+)\.out", fn)
        if not m:
            continue
        base = os.path.join(d, fn[:-4])
        r = {"scenario": m.group(1), "server": m.group(3),
             "round": int(m.group(4)), "figures": {}}
        if m.group(2):
            r["size"] = int(m.group(2))
        with open(base + ".out", errors="replace") as f:
            for line in f:
                k, sep, v = line.partition(":")
                if sep and re.fullmatch(r"[a-z_0-9]+", k.strip()):
                    r["figures"][k.strip()] = _num(v.strip())
        for ext, key in ((".rc", "exit"), (".cmd", "command"),
                         (".note", "note")):
            try:
                with open(base + ext) as f:
                    v = f.read().strip()
                r[key] = int(v) if ext == ".rc" else v
            except (OSError, ValueError):
                pass
        try:
            with open(base + ".prep", errors="replace") as f:
                for line in f:
                    k, sep, v = line.partition(":")
                    if sep and re.fullmatch(r"[a-z_0-9]+", k.strip()):
                        r["figures"]["prep_" + k.strip()] = _num(v.strip())
        except OSError:
            pass
        try:
            with open(base + ".bg") as f:
                for line in f:
                    k, _s, v = line.partition(":")
                    if k == "background_cpu_pct":
                        r["background_cpu_pct"] = _num(v.strip())
                    elif k == "background_top":
                        r["background_top"] = v.strip()
        except OSError:
            pass
        try:
            with open(base + ".err", errors="replace") as f:
                err = f.read().strip().splitlines()
            if err and r.get("exit", 0) != 0:
                r["stderr_tail"] = err[-5:]
        except OSError:
            pass
        runs.append(r)
    return runs


def _sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True,
                              text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine():
    lscpu = _sh("LC_ALL=C lscpu")
    cpu = re.search(r"^Model name:\s*(.+)$", lscpu, re.M)
    mem_kib = 0
    try:
        with open("/proc/meminfo") as f:
            mem_kib = int(f.readline().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    deb = ""
    try:
        with open("/etc/debian_version") as f:
            deb = f.read().strip()
    except OSError:
        pass
    return {
        "cpu": cpu.group(1).strip() if cpu else platform.processor(),
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1048576, 1),
        "kernel": platform.release(),
        "debian": deb,
        "nofile_hard": _sh("ulimit -Hn"),
    }


def read_meta(path):
    meta = {"versions": {}, "tls": {}}
    with open(path) as f:
        for line in f:
            k, sep, v = line.rstrip("\n").partition("=")
            if not sep:
                continue
            if k.startswith("version."):
                meta["versions"][k[8:]] = v
            elif k.startswith("tls."):
                meta["tls"][k[4:]] = v
            elif k == "cert":
                meta["cert"] = v
            elif k.startswith("setting."):
                meta.setdefault("settings", {})[k[8:]] = v
            else:
                meta[k] = v
    return meta


def cmd_report(a):
    runs = read_runs(a.runs)
    meta = read_meta(a.meta)
    data = {
        "generated": meta.get("start") or
        datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "elapsed_s": _num(meta.get("elapsed_s", "0")),
        "command": meta.get("command", ""),
        "machine": machine(),
        "versions": meta["versions"],
        "tls": meta["tls"],
        "cert": meta.get("cert", ""),
        "settings": meta.get("settings", {}),
        "runs": runs,
    }
    notes = read_notes(a.notes)
    if notes:
        data["notes"] = notes
    with open(a.json, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")
    md = render(data)
    with open(a.md, "w") as f:
        f.write(md)
    print(summary(data))
    return 0


def read_notes(path):
    """The hand-written analysis appended to the report, if any."""
    if not path:
        return None
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def cmd_render(a):
    with open(a.json) as f:
        data = json.load(f)
    notes = read_notes(a.notes)
    if notes:
        data["notes"] = notes
    with open(a.md, "w") as f:
        f.write(render(data))
    print(summary(data))
    return 0


def cmd_merge(a):
    with open(a.json) as f:
        data = json.load(f)
    with open(a.add) as f:
        add = json.load(f)
    scen = set(a.scenarios.split(","))
    data["runs"] = [r for r in data["runs"] if r["scenario"] not in scen]
    data["runs"] += [r for r in add["runs"] if r["scenario"] in scen]
    data["merged"] = [m for m in data.get("merged", [])
                      if not scen & set(m["scenarios"])]
    data["merged"].append({
        "scenarios": sorted(scen), "generated": add.get("generated"),
        "elapsed_s": add.get("elapsed_s"), "command": add.get("command"),
        "versions": add.get("versions"), "tls": add.get("tls"),
        "cert": add.get("cert") or "RSA-2048"})
    data.pop("notes", None)
    with open(a.out, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")
    notes = read_notes(a.notes)
    if notes:
        data["notes"] = notes
    with open(a.md, "w") as f:
        f.write(render(data))
    print(summary(data))
    return 0


def merged_from(data, scen):
    """The provenance of scen's runs if they came from another run."""
    for m in data.get("merged", []):
        if scen in m["scenarios"]:
            return m
    return None


# --------------------------------------------------------------------------
# report: figures

# Per scenario: the figures shown, as (key, label, unit, lower_is_better).
SCEN = {
    "login": ("login: connect + STARTTLS + SCRAM-SHA-1 + bind + roster get"
              " + initial presence", [
        ("cpu_ms_per_login", "server CPU per login", "ms", True),
        ("logins_per_s", "logins/s", "", False),
        ("latency_p50_ms", "login latency p50", "ms", True),
        ("latency_p99_ms", "login latency p99", "ms", True),
        ("rss_after_kib", "server RSS after", "KiB", True),
    ]),
    "idle": ("idle: authenticated STARTTLS sessions held", [
        ("rss_kib_per_session", "server RSS per session", "KiB", True),
        ("rss_before_kib", "server RSS before", "KiB", True),
        ("rss_after_kib", "server RSS with all sessions", "KiB", True),
        ("sessions_established", "sessions", "", None),
    ]),
    "chat": ("chat, flat out: N/2 pairs, plain TCP, a window of "
             "messages in flight per sender", [
        ("cpu_s_per_1000_stanzas", "server CPU per 1,000 messages", "s",
         True),
        ("msgs_per_s", "delivered msgs/s", "", False),
        ("latency_p50_ms", "latency p50", "ms", True),
        ("latency_p99_ms", "latency p99", "ms", True),
        ("lost", "lost", "", True),
    ]),
    "chat_rate": ("chat at a fixed rate: N/2 pairs, plain TCP", [
        ("cpu_s_per_1000_stanzas", "server CPU per 1,000 messages", "s",
         True),
        ("msgs_per_s", "delivered msgs/s", "", False),
        ("latency_p50_ms", "latency p50", "ms", True),
        ("latency_p90_ms", "latency p90", "ms", True),
        ("latency_p99_ms", "latency p99", "ms", True),
        ("lost", "lost", "", True),
    ]),
    "roster": ("roster: every user has mutual subscriptions with its "
               "contacts; a login storm measures presence fan-out", [
        ("cpu_ms_per_login", "server CPU per storm login", "ms", True),
        ("cpu_s_per_1000_stanzas", "server CPU per 1,000 presences", "s",
         True),
        ("storm_s", "storm duration", "s", True),
        ("presence_delivered", "presences delivered", "", None),
        ("lost", "presences missing", "", True),
        ("prep_setup_s", "subscription setup before the storm (not "
         "measured otherwise)", "s", True),
    ]),
    "muc": ("muc: occupants in one room, some of them sending, plain TCP", [
        ("cpu_s_per_1000_stanzas", "server CPU per 1,000 delivered stanzas",
         "s", True),
        ("stanzas_per_s", "delivered stanzas/s", "", False),
        ("latency_p50_ms", "latency p50", "ms", True),
        ("latency_p99_ms", "latency p99", "ms", True),
        ("lost", "lost", "", True),
    ]),
}
SCEN["muc_large"] = ("muc_large: the muc scenario with 1,000 occupants",
                     list(SCEN["muc"][1]))
ORDER = ["login", "idle", "chat", "chat_rate", "roster", "muc", "muc_large"]
# Shown in every table, without ratios: if the load generator saturates a
# core, the server was not the bottleneck.
for _t, _figs in SCEN.values():
    _figs.append(("client_cpu_seconds", "load generator CPU", "s", None))

# The targets of issue 4: (scenario, key, comparison, factor, text).
# "ratio" targets: tern's median <= factor * the other server's median.
TARGETS = [
    ("idle", "rss_kib_per_session", "abs", 8.0, None,
     "idle authenticated TLS session: at most 8 KiB server RSS per session"),
    ("chat", "cpu_s_per_1000_stanzas", "ratio", 0.2, "ejabberd",
     "1:1 chat flat out: at most 1/5 of ejabberd's CPU per 1,000 messages"),
    ("chat_rate", "cpu_s_per_1000_stanzas", "ratio", 0.2, "ejabberd",
     "1:1 chat at a fixed rate: at most 1/5 of ejabberd's CPU per 1,000 "
     "messages"),
    ("chat", "lost", "abs", 0, None, "1:1 chat flat out: zero lost"),
    ("chat_rate", "lost", "abs", 0, None, "1:1 chat at a fixed rate: zero "
     "lost"),
    ("chat_rate", "latency_p99_ms", "ratio", 1.0, "ejabberd",
     "1:1 chat at a fixed rate: p99 latency at or below ejabberd's"),
    ("login", "cpu_ms_per_login", "ratio", 1 / 3, "ejabberd",
     "logins with STARTTLS + SCRAM: at most 1/3 of ejabberd's CPU per "
     "login"),
    ("muc", "cpu_s_per_1000_stanzas", "ratio", 0.2, "ejabberd",
     "MUC fan-out: at most 1/5 of ejabberd's CPU per 1,000 delivered "
     "stanzas (belongs to the MUC issue)"),
    ("muc_large", "cpu_s_per_1000_stanzas", "ratio", 0.2, "ejabberd",
     "MUC fan-out at 1,000 occupants: at most 1/5 of ejabberd's CPU per "
     "1,000 delivered stanzas (MUC issue)"),
    ("muc", "lost", "abs", 0, None, "MUC: zero lost"),
    ("muc_large", "lost", "abs", 0, None, "MUC at 1,000 occupants: zero "
     "lost"),
]

# The figures issue 4 quotes for Prosody 0.12 and ejabberd 23.01, shown
# beside this run's for orientation.
ISSUE_FIGURES = {
    ("idle", "rss_kib_per_session"): {"prosody": 48, "ejabberd": 67},
    ("chat", "cpu_s_per_1000_stanzas"): {"prosody": 0.126,
                                         "ejabberd": 0.041},
    ("chat_rate", "cpu_s_per_1000_stanzas"): {"prosody": 0.27,
                                              "ejabberd": 0.126},
    ("chat_rate", "latency_p99_ms"): {"prosody": 31, "ejabberd": 0.6},
    ("muc", "cpu_s_per_1000_stanzas"): {"prosody": 0.036,
                                        "ejabberd": 0.020},
    ("login", "cpu_ms_per_login"): {"prosody": 3.9, "ejabberd": 1.6},
}


# The scale target: the largest size held completely with nothing lost,
# and per-session memory and per-message CPU "flat": at the largest size
# within this factor of the smallest size's figure.
SWEEP_FLAT = 1.25


def valid(run):
    """A run counts if ternbench finished it ('result: ok')."""
    return run.get("figures", {}).get("result") == "ok"


def values(data, scen, server, key):
    out = []
    for r in data["runs"]:
        if r["scenario"] == scen and r["server"] == server and valid(r):
            v = r["figures"].get(key)
            if isinstance(v, (int, float)):
                out.append(v)
    return out


def stat(data, scen, server, key):
    v = values(data, scen, server, key)
    if not v:
        return None
    return {"median": statistics.median(v), "min": min(v), "max": max(v),
            "n": len(v)}


def status(data, scen, server):
    """Why a server has no figures for a scenario, or None."""
    rs = [r for r in data["runs"]
          if r["scenario"] == scen and r["server"] == server]
    if not rs:
        return "not run"
    if any(valid(r) for r in rs):
        return None
    res = {r.get("figures", {}).get("result", "no output") for r in rs}
    if res == {"not_implemented"}:
        return "not implemented"
    return "failed (%s)" % ", ".join(sorted(str(x) for x in res))


def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer()
                              and abs(v) >= 100):
        return "{:,}".format(int(v))
    a = abs(v)
    if a >= 100:
        return "{:,.0f}".format(v)
    if a >= 10:
        return "%.1f" % v
    if a >= 1:
        return "%.2f" % v
    if a == 0:
        return "0"
    if a >= 0.01:
        return "%.3f" % v
    return "%.4f" % v


def ratio(a, b):
    if a is None or b is None or b["median"] == 0:
        return None
    return a["median"] / b["median"]


def servers_in(data):
    seen = {r["server"] for r in data["runs"]}
    return [s for s in SERVERS if s in seen]


def scenario_params(data, scen):
    for r in data["runs"]:
        if r["scenario"] == scen and r.get("command"):
            return r["command"]
    return ""


def target_rows(data):
    rows = []
    for scen, key, kind, factor, other, text in TARGETS:
        t = stat(data, scen, "tern", key)
        if kind == "abs":
            if t is None:
                verdict, detail = "not measured", status(
                    data, scen, "tern") or "no data"
            else:
                ok = t["max"] <= factor if key == "lost" else \
                    t["median"] <= factor
                verdict = "met" if ok else "missed"
                detail = "tern %s (limit %s)" % (
                    fmt(t["max"] if key == "lost" else t["median"]),
                    fmt(factor))
                if not ok and factor > 0:
                    detail += ", %.1fx the limit" % (t["median"] / factor)
        else:
            o = stat(data, scen, other, key)
            if t is None or o is None:
                verdict = "not measured"
                detail = status(data, scen, "tern") if t is None else \
                    "%s: %s" % (other, status(data, scen, other))
            else:
                limit = factor * o["median"]
                ok = t["median"] <= limit
                verdict = "met" if ok else "missed"
                detail = "tern %s, %s %s, ratio %s (limit %s)" % (
                    fmt(t["median"]), LABEL[other], fmt(o["median"]),
                    fmt(ratio(t, o)), fmt(factor))
                if not ok and limit > 0:
                    detail += ", %.1fx the limit" % (t["median"] / limit)
        rows.append((text, verdict, detail))
    if any(r["scenario"] == "sweep" for r in data["runs"]):
        rows.append(sweep_target(data))
    return rows


# --------------------------------------------------------------------------
# the scale sweep

SWEEP_FIGS = [
    ("sessions_established", "sessions held", "", None),
    ("rss_kib_per_session", "KiB/session", "", None),
    ("chat_cpu_s_per_1000_stanzas", "CPU s/1000 msgs", "", None),
    ("chat_latency_p99_ms", "p99 (ms)", "", None),
    ("chat_lost", "lost", "", None),
    ("rss_before_kib", "RSS before (KiB)", "", None),
    ("rss_after_kib", "RSS held (KiB)", "", None),
    ("chat_msgs_per_s", "msgs/s", "", None),
    ("client_cpu_seconds", "holder CPU (s)", "", None),
]


def sweep_sizes(data):
    """[(size, label)] of the tern sweep, ascending."""
    seen = {}
    for r in data["runs"]:
        if r["scenario"] == "sweep" and r["server"] == "tern":
            lab = r.get("figures", {}).get("size_label", r["size"])
            seen[r["size"]] = str(lab)
    return sorted(seen.items())


def sweep_stat(data, size, key):
    v = [r["figures"].get(key) for r in data["runs"]
         if r["scenario"] == "sweep" and r["server"] == "tern" and
         r.get("size") == size and valid(r)]
    v = [x for x in v if isinstance(x, (int, float))]
    if not v:
        return None
    return {"median": statistics.median(v), "min": min(v), "max": max(v),
            "n": len(v)}


def sweep_target(data):
    text = ("scale: as many idle TLS sessions as the descriptor limits allow"
            " (sweep), all held, none lost, KiB/session and CPU per message"
            " flat (largest size within %.2fx of the smallest)" % SWEEP_FLAT)
    sizes = sweep_sizes(data)
    if not sizes:
        return (text, "not measured", "no tern sweep")
    lo, hi = sizes[0][0], sizes[-1][0]
    detail = []
    for size, lab in sizes:
        if sweep_stat(data, size, "sessions_established") is None:
            return (text, "not measured", "size %s failed" % lab)
    held = sweep_stat(data, hi, "sessions_established")
    lost = sweep_stat(data, hi, "chat_lost")
    ok = held["min"] >= hi and (lost is None or lost["max"] == 0)
    detail.append("%s of %s sessions held at the largest size (%s)" % (
        fmt(held["min"]), fmt(hi), sizes[-1][1]))
    if len(sizes) > 1:
        for key, what in (("rss_kib_per_session", "KiB/session"),
                          ("chat_cpu_s_per_1000_stanzas", "CPU/1000 msgs")):
            a, b = sweep_stat(data, lo, key), sweep_stat(data, hi, key)
            if a is None or b is None or a["median"] <= 0:
                continue
            f = b["median"] / a["median"]
            ok = ok and f <= SWEEP_FLAT
            detail.append("%s %s at %s, %s at %s (%.2fx)" % (
                what, fmt(a["median"]), fmt(lo), fmt(b["median"]), fmt(hi),
                f))
    if "max" not in [lab for _s, lab in sizes]:
        detail.append("no max size in this run")
        return (text, "not measured", "; ".join(detail))
    return (text, "met" if ok else "missed", "; ".join(detail))


def render_sweep(data):
    sizes = sweep_sizes(data)
    L = ["## sweep\n"]
    L.append("Scale sweep (tern only): N idle authenticated STARTTLS "
             "sessions held by one ternbench process; server RSS per "
             "session is the growth of VmRSS from before the sessions to "
             "after they were held for a few seconds. Then, while they are "
             "held, a second ternbench process runs chat at a fixed rate "
             "over plain TCP with its own accounts: server CPU per 1,000 "
             "delivered messages, p99 latency, lost. \"max\" is the "
             "descriptor limit (`ulimit -Hn`) less the chat clients and a "
             "margin.\n")
    m = merged_from(data, "sweep")
    if m:
        L.append("Measured in a separate run (%s, tern %s, certificate %s):"
                 " `%s`\n" % (m.get("generated"),
                              (m.get("versions") or {}).get("tern", "?"),
                              m.get("cert"),
                              (m.get("command") or "").strip()))
    cmds = []
    for r in data["runs"]:
        if r["scenario"] == "sweep" and r.get("command"):
            cmds = r["command"].splitlines()
            break
    for c in cmds:   # the first size's; the others differ in --users
        c = re.sub(r" --(port|server-pid|ready-file|stop-file) \S+", "", c)
        if c.startswith("ternbench idle"):
            c = re.sub(r" --users \d+", " --users N", c)
        L.append("Load generator: `%s`\n" % c)
    head = ["size"] + [f[1] for f in SWEEP_FIGS]
    L.append("| " + " | ".join(head) + " |")
    L.append("|" + "---|" * len(head))
    for size, lab in sizes:
        cells = ["%s (%s)" % (lab, fmt(size)) if lab != str(size)
                 else fmt(size)]
        for key, _label, _u, _l in SWEEP_FIGS:
            x = sweep_stat(data, size, key)
            if x is None:
                rs = [r for r in data["runs"] if r["scenario"] == "sweep"
                      and r.get("size") == size]
                cells.append("failed (%s)" % ", ".join(sorted({
                    str(r.get("figures", {}).get("result", "no output"))
                    for r in rs})))
            elif x["n"] > 1:
                cells.append("%s<br>(%s-%s)" % (fmt(x["median"]),
                                                fmt(x["min"]),
                                                fmt(x["max"])))
            else:
                cells.append(fmt(x["median"]))
        L.append("| " + " | ".join(cells) + " |")
    L.append("")
    for r in data["runs"]:
        if r["scenario"] == "sweep" and not valid(r):
            fig = r.get("figures", {})
            extra = "; ".join(r.get("stderr_tail", [])[-2:])
            note = (r.get("note") or "").strip().splitlines()
            if note:
                extra = (extra + "; " if extra else "") + note[-1][:200]
            L.append("- round %d, size %s: %s (exit %s)%s" % (
                r["round"], fig.get("size_label", r.get("size")),
                fig.get("result", "no output"), r.get("exit", "?"),
                ": " + extra if extra else ""))
    return "\n".join(L) + "\n"


def render(data):
    m = data["machine"]
    srv = servers_in(data)
    rounds = max([r["round"] for r in data["runs"]] or [0])
    L = []
    L.append("# Performance: tern, Prosody and ejabberd\n")
    L.append("Written by `bench/compare.sh` (via `bench/compare_report.py`);"
             " do not edit by hand. Raw results: "
             "[bench/results/latest.json](../bench/results/latest.json). "
             "Rerun with `bench/compare.sh` as root (three rounds; "
             "`QUICK=1 bench/compare.sh` is a smoke run of a few minutes "
             "with small sizes and one round; bench/compare.sh's header "
             "lists the size variables).\n")
    if (data.get("settings") or {}).get("QUICK") == "1":
        L.append("**This is a QUICK=1 smoke run: small sizes, one round. "
                 "Its figures show that the comparison works, not how the "
                 "servers compare; run `bench/compare.sh` without QUICK for "
                 "those.**\n")
    L.append("## This run\n")
    L.append("- date: %s (took %s s)" % (data["generated"],
                                         data.get("elapsed_s", "?")))
    L.append("- command: `%s`" % data["command"].strip())
    st = data.get("settings") or {}
    if st:
        skip = {"TERND", "TERNBENCH", "RESULTS", "REPORT", "PASSWORD",
                "KEEP_WORK", "START_TIMEOUT", "RUN_TIMEOUT"}
        L.append("- settings: %s" % " ".join(
            "`%s=%s`" % (k, v) for k, v in st.items() if k not in skip))
    L.append("- machine: %s, %s cores, %s GiB RAM, Linux %s, Debian %s, "
             "`ulimit -Hn` %s" % (m["cpu"], m["cores"], m["memory_gib"],
                                   m["kernel"], m["debian"],
                                   m.get("nofile_hard", "?")))
    vers = ", ".join("%s %s" % (LABEL[s], data["versions"].get(s, "?"))
                     for s in srv)
    L.append("- servers: %s" % vers)
    tls = ", ".join("%s: %s" % (LABEL[s], data["tls"].get(s) or "?")
                    for s in srv)
    L.append("- TLS negotiated on the STARTTLS port (protocol, cipher, "
             "whether a session offered back resumes): "
             "%s; certificate: %s" % (tls, data.get("cert") or "RSA-2048"))
    bg = [r for r in data["runs"] if isinstance(
        r.get("background_cpu_pct"), (int, float))]
    if bg:
        worst = max(bg, key=lambda r: r["background_cpu_pct"])
        L.append("- other processes' CPU in the second before each run: "
                 "median %s%%, at most %s%% of one core (%s round %d: %s)%s"
                 % (fmt(statistics.median(r["background_cpu_pct"]
                                          for r in bg)),
                    fmt(worst["background_cpu_pct"]), worst["scenario"],
                    worst["round"], worst.get("background_top", ""),
                    "; **the machine was not quiet, figures are noisy**"
                    if worst["background_cpu_pct"] >= 20 else ""))
    for m in data.get("merged", []):
        L.append("- %s: from a separate run on %s (took %s s): `%s`; tern "
                 "%s; certificate: %s" % (
                     ", ".join(m["scenarios"]), m.get("generated"),
                     m.get("elapsed_s", "?"), (m.get("command") or "").strip(),
                     (m.get("versions") or {}).get("tern", "?"),
                     m.get("cert")))
    L.append("- rounds: %d; each cell is the median over the rounds, with "
             "the range (min-max) below it when there was more than one "
             "round. Ratios are of medians; below 1 means tern uses less "
             "(or is faster, for latency).\n" % rounds)

    L.append("## Targets of issue 4\n")
    L.append("Computed from this run's medians.\n")
    L.append("| target | verdict | figures |")
    L.append("|---|---|---|")
    for text, verdict, detail in target_rows(data):
        mark = {"met": "**met**", "missed": "**missed**"}.get(verdict,
                                                               verdict)
        L.append("| %s | %s | %s |" % (text, mark, detail))
    L.append("")

    for scen in ORDER:
        if not any(r["scenario"] == scen for r in data["runs"]):
            continue
        title, figs = SCEN[scen]
        L.append("## %s\n" % scen)
        L.append(title[0].upper() + title[1:] + ".\n")
        cmd = scenario_params(data, scen)
        if cmd:
            L.append("Load generator: `%s`\n" % re.sub(
                r" --(port|server-pid) \S+", "", cmd))
        head = ["figure"] + [LABEL[s] for s in srv]
        if "tern" in srv:
            head += ["tern/%s" % LABEL[s] for s in srv if s != "tern"]
        L.append("| " + " | ".join(head) + " |")
        L.append("|" + "---|" * len(head))
        for key, label, unit, low in figs:
            cells = [label + (" (%s)" % unit if unit else "")]
            st = {s: stat(data, scen, s, key) for s in srv}
            for s in srv:
                x = st[s]
                if x is None:
                    cells.append(status(data, scen, s) or "-")
                elif x["n"] > 1:
                    cells.append("%s<br>(%s-%s)" % (fmt(x["median"]),
                                                    fmt(x["min"]),
                                                    fmt(x["max"])))
                else:
                    cells.append(fmt(x["median"]))
            if "tern" in srv:
                for s in srv:
                    if s == "tern":
                        continue
                    r = ratio(st["tern"], st[s]) if low is not None \
                        and key != "lost" else None
                    cells.append(fmt(r) if r is not None else "")
            L.append("| " + " | ".join(cells) + " |")
        L.append("")
        quoted = [(k, f) for (sc, k), f in ISSUE_FIGURES.items()
                  if sc == scen]
        for key, f in quoted:
            label = [x[1] for x in SCEN[scen][1] if x[0] == key]
            L.append("Issue 4 quotes for %s: %s.\n" % (
                label[0] if label else key,
                ", ".join("%s %s" % (LABEL[s], fmt(v))
                          for s, v in f.items())))
        bad = [r for r in data["runs"]
               if r["scenario"] == scen and not valid(r) and
               r.get("figures", {}).get("result") != "not_implemented"]
        for r in bad:
            fig = r.get("figures", {})
            why = fig.get("result", "no output")
            extra = "; ".join(r.get("stderr_tail", [])[-2:])
            note = (r.get("note") or "").strip().splitlines()
            if note:
                extra = (extra + "; " if extra else "") + note[-1][:200]
            L.append("- round %d, %s: %s (exit %s)%s" % (
                r["round"], LABEL.get(r["server"], r["server"]), why,
                r.get("exit", "?"), ": " + extra if extra else ""))
        if bad:
            L.append("")

    if any(r["scenario"] == "sweep" for r in data["runs"]):
        L.append(render_sweep(data))
    # Runs before CERT_TYPE existed used RSA-2048.
    L.append(SETUP.replace("@CERT@", data.get("cert") or "RSA-2048"))
    notes = data.get("notes")
    if notes:
        L.append("## Analysis\n")
        L.append(notes.strip() + "\n")
    return "\n".join(L) + "\n"


SETUP = """## How the servers are set up

`bench/compare.sh` installs Prosody and ejabberd from Debian if they are
missing and stops the daemons the packages start. For every scenario of
every round it starts one server at a time, freshly, with an empty data
directory in a temporary directory, on free 127.0.0.1 ports, in the order
tern, Prosody, ejabberd, and stops it afterwards. The accounts a scenario
needs are created first with in-band registration (XEP-0077) over the
plain port (`ternbench login --clients 0 --register`); then the server is
restarted on the same data, so that the measured run starts from a fresh
process holding only the accounts, not the garbage of creating them. The
configurations are written by the script; in short:

| | tern | Prosody | ejabberd |
|---|---|---|---|
| TLS | one self-signed @CERT@ certificate for all three (`CERT_TYPE`); OpenSSL defaults but `tls: {session_tickets: false}`: no resumption, like the other two | OpenSSL with Prosody's default `no_ticket`: two stateful TLS 1.3 tickets naming sessions no cache keeps, so no resumption | fast_tls: the same as Prosody |
| c2s ports | STARTTLS listener and a `tls: none` listener, `c2s: {require_tls: false}` | two `c2s_ports`, `c2s_require_encryption = false` (STARTTLS offered, optional) | two `ejabberd_c2s` listeners, `starttls: true`, the first with `starttls_required: true` |
| registration | `register: {allow_registration: true, ip_limit: 1000000}` | `allow_registration = true`, no throttle options, 127.0.0.0/8 allowlisted | `mod_register: {ip_access: all}`, `registration_timeout: infinity` |
| rate limits, shapers | `c2s: {auth_ip_failures: 0}` | `mod_limits` not loaded | no shaper on the listeners, no shaper rules |
| stanza size limit | 262144 (default) | 262144 (default) | `max_stanza_size: 262144` |
| credentials | SCRAM-SHA-1/-256 hashes, 4096 iterations | `internal_hashed`, `default_iteration_count = 4096` | `auth_password_format: scram` (SHA-1, 4096 iterations) |
| storage | SQLite | internal (files) | Mnesia (default) |
| logging | `log: {level: warn}` | `log = { warn = file }` | `loglevel: warning` |
| modules | ping disco version roster presence offline blocking register time last vcard private contact caps muc pubsub pep pep_vcard bookmarks | roster saslauth tls disco ping version time lastactivity vcard private blocklist register server_contact_info pep, a `pubsub` component (+ presence, message, iq, offline, c2s built in); s2s off | mod_ping disco version roster offline privacy blocking register time last vcard private caps, mod_pubsub with the flat and pep plugins |
| MUC | `muc: {host: conference.<domain>}` (rooms without an occupant limit) | `Component "conference.<domain>" "muc"` | `mod_muc` on `conference.<domain>`, `max_users: 10000` and `default_room_options: {max_users: 10000}` |
| process | `ternd -c FILE` as root | `prosody -F --config FILE`, `run_as_root = true`, epoll backend (Lua 5.4) | `ejabberdctl foreground` with its own config, node name, Mnesia spool and distribution port, as the ejabberd user; Debian's `ejabberdctl` VM flags plus `+sbwt none +sbwtdcpu none +sbwtdio none` (see below) |
| sampled processes | ternd | the Lua process | beam.smp |

Erlang's schedulers spin for a while before they sleep; with a spare core
that spinning is CPU time without work (it made ejabberd's CPU per message
at 2,000 msg/s about a third higher in a trial here), so the script turns it
off, which is the stricter comparison for tern; `EJABBERD_BUSY_WAIT=1`
keeps Debian's defaults. All three have the same listen backlog (1024; Prosody's default is 128,
ejabberd's 5, which made connection bursts wait for SYN retransmits) and
the same open-file limit (`ulimit -n` raised to the hard
limit). The load generator (`build/ternbench`, bench/README.md) runs on the
same 2-core machine, so the servers share the CPU with it; with `PIN=1`
the server is pinned to CPU 1 and the load generator to CPU 0. CPU figures
are the server process's utime+stime from /proc over the measured phase
divided by the stanzas delivered (or logins) in it; RSS per session is the
growth of VmRSS while the sessions are opened, divided by their number.
"""


def summary(data):
    """A short text summary for the terminal."""
    out = []
    srv = servers_in(data)
    for scen in ORDER:
        if not any(r["scenario"] == scen for r in data["runs"]):
            continue
        key = SCEN[scen][1][0][0]
        cells = []
        for s in srv:
            x = stat(data, scen, s, key)
            cells.append("%s %s" % (s, fmt(x["median"]) if x else
                                    status(data, scen, s)))
        out.append("%-9s %-24s %s" % (scen, key, "  ".join(cells)))
    for text, verdict, detail in target_rows(data):
        out.append("target: %s: %s (%s)" % (verdict, text, detail))
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    pr = sub.add_parser("probe")
    pr.add_argument("--host", default="127.0.0.1")
    pr.add_argument("--domain", default="localhost")
    pr.add_argument("--ports", required=True)
    pr.add_argument("--pids", default="")
    pr.add_argument("--timeout", type=float, default=60)
    ld = sub.add_parser("load")
    ld.add_argument("--seconds", type=float, default=1.0)
    ld.add_argument("--exclude", type=int, default=os.getppid())
    rp = sub.add_parser("report")
    rp.add_argument("--runs", required=True)
    rp.add_argument("--meta", required=True)
    rp.add_argument("--json", required=True)
    rp.add_argument("--md", required=True)
    rr = sub.add_parser("render")
    rr.add_argument("--json", required=True)
    rr.add_argument("--md", required=True)
    mg = sub.add_parser("merge")
    mg.add_argument("--json", required=True, help="the report's results")
    mg.add_argument("--add", required=True, help="results of another run")
    mg.add_argument("--scenarios", required=True, help="e.g. sweep")
    mg.add_argument("--out", required=True, help="merged JSON written here")
    mg.add_argument("--md", required=True)
    for x in (rp, rr, mg):
        x.add_argument("--notes", default=os.path.join(
            os.path.dirname(os.path.abspath(__file__)), "performance_notes.md"),
            help="hand-written analysis appended to the report if present")
    a = p.parse_args()
    return {"probe": cmd_probe, "load": cmd_load, "report": cmd_report,
            "render": cmd_render, "merge": cmd_merge}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
