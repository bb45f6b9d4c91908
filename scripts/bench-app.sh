#!/usr/bin/env bash
# Benchmark: the desktop app idle with 10 previews running, against an idle
# `branchyard serve` (the headless engine doing the same upkeep) in the same
# run: RSS of the whole process tree (the app and its WebKit processes; PSS
# too, since WebKit's processes share libraries) and CPU over $SECONDS_IDLE s.
# The docker-kill-to-badge latency comes from the window test
# (tests/app, target/bench/app-latency.json) when it ran; RUN_WINDOW_TEST=1
# runs it first. Figures go to target/bench/app.json (app$SUFFIX.json); a
# summary is printed. PROFILE=release measures release builds.
source "$(dirname "$0")/lib.sh"
SECONDS_IDLE=${SECONDS_IDLE:-60}
PREVIEWS=${PREVIEWS:-10}
PROFILE=${PROFILE:-debug}
cd "$ROOT"
ensure_docker
if [ "$PROFILE" = release ]; then
  cargo build -q -p branchyard-cli --release
  cargo build -q -p branchyard-desktop --release
else
  cargo build -q -p branchyard-cli
  cargo build -q -p branchyard-desktop
fi
BY="$ROOT/target/$PROFILE/branchyard"
APP="$ROOT/target/$PROFILE/branchyard-desktop"
OUT="$ROOT/target/bench"
mkdir -p "$OUT"
WORK=$(mktemp -d)
export BRANCHYARD_HOME="$WORK/home"
export BRANCHYARD_EXTRA_LABELS="dev.branchyard.test=1"
export BRANCHYARD_GATEWAY_NAME=${BRANCHYARD_TEST_GATEWAY:-branchyard-gateway-bench-app}
PORT=${BRANCHYARD_TEST_HTTP_PORT:-18489}
PIDS=()
cleanup() {
  cd /
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for i in $(seq 1 "$PREVIEWS"); do "$BY" down "b$i.shop" --volumes >/dev/null 2>&1 || true; done
  docker rm -f "$BRANCHYARD_GATEWAY_NAME" >/dev/null 2>&1 || true
  docker volume rm "$BRANCHYARD_GATEWAY_NAME-data" >/dev/null 2>&1 || true
  docker network rm "$BRANCHYARD_GATEWAY_NAME-net" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ "${RUN_WINDOW_TEST:-0}" = 1 ]; then
  log "window test (measures docker kill → badge)"
  BRANCHYARD_TEST_GATEWAY=$BRANCHYARD_GATEWAY_NAME BRANCHYARD_TEST_HTTP_PORT=$PORT NO_AT_BRIDGE=1 \
    xvfb-run -a dbus-run-session -- cargo test -q -p branchyard-e2e --test app -- --test-threads=1
fi

mkdir -p "$WORK/img" && cp /bin/busybox "$WORK/img/"
printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox","--install","-s","/bin"]\nLABEL dev.branchyard.test=1\n' > "$WORK/img/Dockerfile"
docker build -q -t branchyard-bench-busybox:1 "$WORK/img" >/dev/null

log "$PREVIEWS previews of a one-service repo"
mkdir -p "$WORK/repo/www" && cd "$WORK/repo"
printf 'services:\n  web:\n    build: .\n    init: true\n    expose: ["8080"]\n' > compose.yaml
printf 'FROM branchyard-bench-busybox:1\nCOPY www /www\nCMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\n' > Dockerfile
echo hello > www/index.html
git init -q -b main . && git add -A && git -c user.name=B -c user.email=b@example.com commit -q -m first
for i in $(seq 1 "$PREVIEWS"); do git branch "b$i"; done
"$BY" settings set gateway.http_port "$PORT" >/dev/null
"$BY" repo add "$WORK/repo" --name shop >/dev/null
for i in $(seq 1 "$PREVIEWS"); do "$BY" up shop "b$i" >/dev/null; done
running=$(docker ps -q --filter label=dev.branchyard.test=1 --filter "label=com.docker.compose.service=web" | wc -l)
log "$running preview containers running"

# Samples the process tree under $1 for $SECONDS_IDLE s; prints JSON.
measure() {
  python3 - "$1" "$SECONDS_IDLE" <<'PY'
import json, os, sys, time
root, secs = int(sys.argv[1]), int(sys.argv[2])
tck = os.sysconf("SC_CLK_TCK")
def children():
    kids = {}
    for p in os.listdir("/proc"):
        if not p.isdigit(): continue
        try:
            st = open(f"/proc/{p}/stat").read()
            ppid = int(st.rsplit(")", 1)[1].split()[1])
            kids.setdefault(ppid, []).append(int(p))
        except OSError: pass
    out, todo = [], [root]
    while todo:
        p = todo.pop(); out.append(p); todo += kids.get(p, [])
    return out
def named(pids):
    keep = []
    for p in pids:
        try: comm = open(f"/proc/{p}/comm").read().strip()
        except OSError: continue
        # The app, the CLI's serve, and WebKit's web and network processes; not xvfb or dbus.
        if comm.startswith(("branchyard", "WebKit")): keep.append((p, comm))
    return keep
def ticks(p):
    f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])
def kb(p, field, path="status"):
    for line in open(f"/proc/{p}/{path}"):
        if line.startswith(field): return int(line.split()[1])
    return 0
procs = named(children())
t0 = {p: ticks(p) for p, _ in procs}
start = time.time()
rss, pss, anon = [], [], []
while time.time() - start < secs:
    try:
        rss.append(sum(kb(p, "VmRSS:") for p, _ in procs))
        pss.append(sum(kb(p, "Pss:", "smaps_rollup") for p, _ in procs))
        # Private heap and stacks: what the process itself costs, shared libraries aside.
        anon.append(sum(kb(p, "RssAnon:") for p, _ in procs))
    except OSError: pass
    time.sleep(5)
per = {}
for p, c in procs:
    try: per[c] = {"rss_mb": round(kb(p, "VmRSS:") / 1024, 1), "anon_mb": round(kb(p, "RssAnon:") / 1024, 1)}
    except OSError: pass
elapsed = time.time() - start
cpu = sum(ticks(p) - t0[p] for p, _ in procs if os.path.exists(f"/proc/{p}")) / tck
print(json.dumps({
    "processes": sorted(c for _, c in procs),
    "cpu_percent": round(100 * cpu / elapsed, 3),
    "rss_mb_max": round(max(rss) / 1024, 1), "rss_mb_mean": round(sum(rss) / len(rss) / 1024, 1),
    "pss_mb_max": round(max(pss) / 1024, 1),
    "anon_mb_max": round(max(anon) / 1024, 1),
    "per_process": per,
    "seconds": round(elapsed, 1),
}))
PY
}

log "the app, idle, ${SECONDS_IDLE}s"
# The probe folder gets the tray model the app shows (the README's tray menu comes from it).
mkdir -p "$OUT/app-probe"
# COMPOSITING=off measures the app with WebKit's accelerated compositing turned off.
COMPOSITING_ENV=()
[ "${COMPOSITING:-on}" = off ] && COMPOSITING_ENV=(WEBKIT_DISABLE_COMPOSITING_MODE=1)
env "${COMPOSITING_ENV[@]}" BRANCHYARD_APP_PROBE="$OUT/app-probe" NO_AT_BRIDGE=1 setsid xvfb-run -a dbus-run-session -- "$APP" >"$WORK/app.log" 2>&1 &
APP_LAUNCHER=$!
PIDS+=("$APP_LAUNCHER")
sleep 20 # the window loads, the engine resyncs, then it should go quiet
APP_JSON=$(measure "$APP_LAUNCHER")
kill -- -"$APP_LAUNCHER" 2>/dev/null || kill "$APP_LAUNCHER" 2>/dev/null || true
wait "$APP_LAUNCHER" 2>/dev/null || true

log "branchyard serve, idle, ${SECONDS_IDLE}s"
"$BY" serve >"$WORK/serve.log" 2>&1 &
SERVE=$!
PIDS+=("$SERVE")
sleep 10
SERVE_JSON=$(measure "$SERVE")
kill "$SERVE" 2>/dev/null || true

LATENCY=null
[ -f "$OUT/app-latency.json" ] && LATENCY=$(cat "$OUT/app-latency.json")
python3 - "$APP_JSON" "$SERVE_JSON" "$LATENCY" "$running" "$PROFILE" "${COMPOSITING:-on}" > "$OUT/app${SUFFIX:-}.json" <<'PY'
import json, sys
app, serve, lat = (json.loads(a) for a in sys.argv[1:4])
doc = {
    "previews_running": int(sys.argv[4]), "profile": sys.argv[5], "compositing": sys.argv[6],
    "app": app, "serve": serve, "kill_to_badge": lat,
    "ratios_app_over_serve": {
        "rss": round(app["rss_mb_max"] / serve["rss_mb_max"], 1),
        "cpu": round(app["cpu_percent"] / serve["cpu_percent"], 1) if serve["cpu_percent"] else None,
    },
    "targets": {"cpu_percent": 1, "rss_mb": 150, "kill_to_badge_ms": 200},
}
print(json.dumps(doc, indent=2))
PY
python3 - "$OUT/app${SUFFIX:-}.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
a, s, l = d["app"], d["serve"], d["kill_to_badge"]
print(f"{d['previews_running']} previews ({d['profile']}, compositing {d['compositing']}): app CPU {a['cpu_percent']}% RSS {a['rss_mb_max']} MB (PSS {a['pss_mb_max']} MB, anon {a['anon_mb_max']} MB) "
      f"[{', '.join(a['processes'])}]; serve CPU {s['cpu_percent']}% RSS {s['rss_mb_max']} MB; "
      f"kill→badge {l['kill_to_badge_ms'] if l else 'not measured'} ms")
PY
