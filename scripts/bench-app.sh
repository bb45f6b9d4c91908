#!/usr/bin/env bash
# Benchmark: the desktop app idle with 10 previews running, against two peers
# in the same run: the floor (scripts/floor: the smallest Tauri 2 app, one
# window with a static page, the same Tauri/wry/WebKitGTK, launched the same
# way under Xvfb) and an idle `branchyard serve` (the headless engine doing
# the same upkeep). For the whole process tree (the app and WebKit's web and
# network processes; not Xvfb or D-Bus) it reports RSS, PSS (shared library
# pages divided among the processes that map them: the fair whole-app
# figure), USS and anonymous memory, summed and per process name, and CPU
# over $SECONDS_IDLE s (scripts/measure-tree.py). TUNINGS (default
# "none all") lists the web view settings to measure the app and the floor
# with (src-tauri/src/webview.rs). The docker-kill-to-badge latency comes
# from the window test (tests/app, target/bench/app-latency.json) when it
# ran; RUN_WINDOW_TEST=1 runs it first. Figures go to target/bench/app.json
# (app$SUFFIX.json); a summary is printed. PROFILE=release measures release
# builds.
source "$(dirname "$0")/lib.sh"
SECONDS_IDLE=${SECONDS_IDLE:-60}
PREVIEWS=${PREVIEWS:-10}
PROFILE=${PROFILE:-debug}
cd "$ROOT"
# Packages, the musl target, dockerd and the static gateway the engine runs.
setup_all
# One cargo call: the app and the floor share every Tauri artifact.
if [ "$PROFILE" = release ]; then
  cargo build -q -p branchyard-cli -p branchyard-desktop -p branchyard-floor --release
else
  cargo build -q -p branchyard-cli -p branchyard-desktop -p branchyard-floor
fi
BY="$ROOT/target/$PROFILE/branchyard"
APP="$ROOT/target/$PROFILE/branchyard-desktop"
FLOOR="$ROOT/target/$PROFILE/branchyard-floor"
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
  # Window runs are setsid sessions: their whole group (app, Xvfb, D-Bus, WebKit) goes.
  for p in "${PIDS[@]}"; do kill -- -"$p" 2>/dev/null || kill "$p" 2>/dev/null || true; done
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

# Samples the process tree under $1 for $SECONDS_IDLE s; prints JSON (scripts/measure-tree.py).
measure() { python3 "$ROOT/scripts/measure-tree.py" "$1" "$SECONDS_IDLE"; }

# Runs "$@" under its own Xvfb and D-Bus session, idle, and measures its tree.
# $1 names the run; the rest is the environment and command.
measure_window() {
  local name=$1; shift
  log "$name, idle, ${SECONDS_IDLE}s"
  env "$@" NO_AT_BRIDGE=1 setsid xvfb-run -a dbus-run-session -- "$CMD" >"$WORK/$name.log" 2>&1 &
  local launcher=$!
  PIDS+=("$launcher")
  sleep 20 # the window loads, the engine resyncs, then it should go quiet
  measure "$launcher" > "$WORK/$name.json"
  kill -- -"$launcher" 2>/dev/null || kill "$launcher" 2>/dev/null || true
  wait "$launcher" 2>/dev/null || true
  sleep 2
}

# Each tuning (src-tauri/src/webview.rs: `none` is WebKit's and wry's
# defaults, `all` what the app runs with, or a comma list) measures the app,
# then the floor peer (scripts/floor: the smallest Tauri app, one window with a
# static page, same Tauri/wry/WebKitGTK, same settings) in the same Xvfb setup.
# The probe folder gets the tray model the app shows (the README's tray menu comes from it).
mkdir -p "$OUT/app-probe"
# COMPOSITING=off also sets WEBKIT_DISABLE_COMPOSITING_MODE=1 (the environment variable).
COMPOSITING_ENV=()
[ "${COMPOSITING:-on}" = off ] && COMPOSITING_ENV=(WEBKIT_DISABLE_COMPOSITING_MODE=1)
TUNINGS=${TUNINGS:-none all}
for t in $TUNINGS; do
  CMD=$APP measure_window "app-$t" "${COMPOSITING_ENV[@]}" BRANCHYARD_WEBVIEW_TUNING="$t" BRANCHYARD_APP_PROBE="$OUT/app-probe"
  CMD=$FLOOR measure_window "floor-$t" "${COMPOSITING_ENV[@]}" BRANCHYARD_WEBVIEW_TUNING="$t"
done

log "branchyard serve, idle, ${SECONDS_IDLE}s"
"$BY" serve >"$WORK/serve.log" 2>&1 &
SERVE=$!
PIDS+=("$SERVE")
sleep 10
measure "$SERVE" > "$WORK/serve.json"
kill "$SERVE" 2>/dev/null || true

LATENCY=null
[ -f "$OUT/app-latency.json" ] && LATENCY=$(cat "$OUT/app-latency.json")
python3 - "$WORK" "$LATENCY" "$running" "$PROFILE" "${COMPOSITING:-on}" "$TUNINGS" > "$OUT/app${SUFFIX:-}.json" <<'PY'
import json, sys
work, lat, running, profile, compositing, tunings = sys.argv[1:7]
load = lambda n: json.load(open(f"{work}/{n}.json"))
runs = {t: {"app": load(f"app-{t}"), "floor": load(f"floor-{t}")} for t in tunings.split()}
serve = load("serve")
ratio = lambda a, b: round(a / b, 2) if b else None
for r in runs.values():
    a, f = r["app"], r["floor"]
    r["ratios_app_over_floor"] = {k: ratio(a[f"{k}_mb_max"], f[f"{k}_mb_max"]) for k in ("rss", "pss", "uss", "anon")}
    r["app_minus_floor_mb"] = {k: round(a[f"{k}_mb_max"] - f[f"{k}_mb_max"], 1) for k in ("rss", "pss", "uss", "anon")}
# The app as it ships (`all`), else the last tuning measured.
last = runs.get("all", runs[tunings.split()[-1]])["app"]
doc = {
    "previews_running": int(running), "profile": profile, "compositing": compositing,
    "tunings": runs, "serve": serve, "kill_to_badge": json.loads(lat),
    "ratios_app_over_serve": {
        "rss": ratio(last["rss_mb_max"], serve["rss_mb_max"]),
        "cpu": ratio(last["cpu_percent"], serve["cpu_percent"]),
    },
    "targets": {"cpu_percent": 1, "rss_mb": 150, "kill_to_badge_ms": 200},
}
print(json.dumps(doc, indent=2))
PY
python3 - "$OUT/app${SUFFIX:-}.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
s, l = d["serve"], d["kill_to_badge"]
print(f"{d['previews_running']} previews ({d['profile']}, compositing {d['compositing']}); "
      f"serve CPU {s['cpu_percent']}% RSS {s['rss_mb_max']} MB; kill→badge {l['kill_to_badge_ms'] if l else 'not measured'} ms")
for t, r in d["tunings"].items():
    for who in ("app", "floor"):
        m = r[who]
        print(f"  tuning {t:<5} {who:<5} CPU {m['cpu_percent']:.2f}%  RSS {m['rss_mb_max']} MB  PSS {m['pss_mb_max']} MB  "
              f"USS {m['uss_mb_max']} MB  anon {m['anon_mb_max']} MB")
        for c, v in m["per_process"].items():
            print(f"      {c:<22} RSS {v['rss_mb']:>6}  PSS {v['pss_mb']:>6}  USS {v['uss_mb']:>6}  anon {v['anon_mb']:>6}")
    print(f"  tuning {t:<5} app/floor: {r['ratios_app_over_floor']}, app-floor MB: {r['app_minus_floor_mb']}")
PY
