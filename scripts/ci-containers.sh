#!/usr/bin/env bash
# CI, containers half: builds the Ferry image, then runs it for real, in containers only.
#   1. image: `docker build` (the host's npm registry as a build argument; prints the image size)
#   2. run:    postgres:15 + the dbt Cloud emulator (from the Ferry image) on a user-defined network, then
#              `ferry run /config/team.yaml` (team YAML mounted read-only, token from the environment):
#              exit 0, and every table's row count in Postgres equals the run's load_info
#   3. resume: new dbt Cloud runs on the emulator, then a second run from a fresh container (empty data
#              dir): it resumes from the state stored in Postgres and loads only the new runs (no full reload)
#   +  ferry demo in the image: the embedded DuckDB destination (native binding) works there too
#   4. compose: docker-compose.yml `up --abort-on-container-exit --exit-code-from pipeline`, rows, `down -v`
# Every container, network and volume it creates is removed on exit, failure and Ctrl-C included; names
# are unique per run (ferry-ci-<pid>), so it is idempotent and may run beside other work. Nothing is
# published except on 127.0.0.1.
# Needs: a running Docker engine (`eval "$(../shared/tools/docker-up)"`), docker-compose 1.29 or
# `docker compose` v2, npm (for the registry setting) and node (JSON checks) on PATH.
# Env: FERRY_IMAGE (default ferry:local), FERRY_CI_SKIP_BUILD=1 (reuse the image), FERRY_CI_NO_CACHE=1
# (cold build: docker build --no-cache), NPM_REGISTRY and
# NPM_CA (default: from the host's npm config; NPM_CA = the PEM certificates of npm's cafile that the
# base image does not trust, e.g. a TLS-inspecting proxy's CA).
# Usage: bash scripts/ci-containers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

id="ferry-ci-$$"
image=${FERRY_IMAGE:-ferry:local}
net="$id"
fixture_runs=250                   # the emulator's generated runs (--runs)
account_id=70403104191314          # the emulator's account
job_id=70403104278164              # a job of that account (team.yaml's transform triggers it too)
extra_runs=2                       # runs triggered between the two pipeline runs
pg_url="postgres://ferry:ferry@postgres:5432/ferry"   # inside the private network only
export DBT_CLOUD_API_TOKEN=${DBT_CLOUD_API_TOKEN:-dbtc_emulator_token}   # the emulator's fixed test token

started=$SECONDS
step_start=$SECONDS
log() { echo "ci-containers: $*" >&2; }
fail() { log "FAILED: $*"; exit 1; }
step() { log "[$((SECONDS - started)) s] $*"; step_start=$SECONDS; }
took() { log "  ... $1 in $((SECONDS - step_start)) s"; }

if docker-compose version >/dev/null 2>&1; then compose=(docker-compose); elif docker compose version >/dev/null 2>&1; then compose=(docker compose); else fail "neither docker-compose nor 'docker compose' is installed"; fi
docker info >/dev/null 2>&1 || fail "Docker is not running (eval \"\$(../shared/tools/docker-up)\")"
command -v node >/dev/null || fail "node is not on PATH (source scripts/bootstrap.sh)"

tmp=$(mktemp -d)
containers=()
networks=()
compose_project=""
cleanup() {
  local rc=$?
  set +e
  if [ -n "$compose_project" ]; then
    if [ "$rc" != 0 ]; then "${compose[@]}" -p "$compose_project" logs --no-color --tail 40 >&2 2>/dev/null; fi
    "${compose[@]}" -p "$compose_project" down -v --remove-orphans >/dev/null 2>&1
  fi
  for c in "${containers[@]}"; do
    if [ "$rc" != 0 ] && docker container inspect "$c" >/dev/null 2>&1; then log "logs of $c:"; docker logs --tail 30 "$c" >&2 2>&1; fi
    docker rm -f -v "$c" >/dev/null 2>&1
  done
  for n in "${networks[@]}"; do docker network rm "$n" >/dev/null 2>&1; done
  left=$(docker ps -aq --filter "name=^$id" 2>/dev/null | wc -l)
  [ "$left" = 0 ] || log "warning: $left container(s) named $id* remain"
  rm -rf "$tmp"
  if [ "$rc" = 0 ]; then log "passed in $((SECONDS - started)) s"; else log "failed (exit $rc) after $((SECONDS - started)) s"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- helpers
# psql in a Postgres container: one value per line, no headers
psql_in() { docker exec "$1" psql -v ON_ERROR_STOP=1 -U ferry -d ferry -Atc "$2"; }
wait_pg() {
  for _ in $(seq 120); do docker exec "$1" pg_isready -q -h 127.0.0.1 -U ferry -d ferry 2>/dev/null && return 0; sleep 0.5; done
  fail "Postgres in $1 did not become ready in 60 s"
}
# the first JSON-lines event named $2 in file $1, as JSON (or a field of it with $3, a dotted path)
event() {
  node -e '
    const [file, name, path] = process.argv.slice(1);
    for (const line of require("fs").readFileSync(file, "utf8").split("\n")) {
      let e; try { e = JSON.parse(line); } catch { continue; }
      if (e.event !== name) continue;
      let v = e; for (const k of (path || "").split(".").filter(Boolean)) v = v == null ? undefined : v[k];
      process.stdout.write(typeof v === "object" ? JSON.stringify(v) : String(v));
      process.exit(0);
    }
    process.exit(1);' "$@"
}
free_port() { node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'; }
# `ferry …` in a fresh container on the private network (removed when it ends); stdout to $tmp/$1.jsonl.
# Locked down like examples/k8s/cronjob.yaml: read-only root, empty /work and /tmp, no capabilities.
ferry_in() {
  local name="$id-$1"; shift
  containers+=("$name")
  local rc=0
  docker run --rm --name "$name" --network "$net" \
    --read-only --tmpfs /work:uid=10001,gid=10001 --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges \
    -v "$root/examples/teams:/config:ro" \
    -e DBT_CLOUD_API_TOKEN -e DBT_CLOUD_BASE_URL=http://emulator:8080 -e DBT_CLOUD_ACCOUNT_ID="$account_id" \
    -e POSTGRES_URL="$pg_url" -e FERRY_LOG_FORMAT=json \
    "$image" "$@" >"$tmp/${name#"$id-"}.jsonl" || rc=$?
  return "$rc"
}

# ---- 1. the image
if [ "${FERRY_CI_SKIP_BUILD:-}" = 1 ] && docker image inspect "$image" >/dev/null 2>&1; then
  step "reusing $image (FERRY_CI_SKIP_BUILD=1)"
else
  step "building $image"
  registry=${NPM_REGISTRY:-$(npm config get registry 2>/dev/null || true)}
  if [ -z "${NPM_CA+x}" ]; then
    # certificates npm trusts on this host (cafile, NODE_EXTRA_CA_CERTS) that the base image lacks
    NPM_CA=""
    cafiles=()
    cafile=$(npm config get cafile 2>/dev/null || true)
    for f in "$cafile" "${NODE_EXTRA_CA_CERTS:-}"; do [ -n "$f" ] && [ -f "$f" ] && cafiles+=("$f"); done
    if [ ${#cafiles[@]} -gt 0 ]; then
      docker run --rm --entrypoint cat node:22-bookworm-slim /etc/ssl/certs/ca-certificates.crt >"$tmp/base-ca.pem"
      NPM_CA=$(awk 'FNR == 1 { base = (NR == FNR) }
        /BEGIN CERTIFICATE/ { b = "" } { b = b $0 "\n" }
        /END CERTIFICATE/ { if (base) seen[b] = 1; else if (!(b in seen)) { seen[b] = 1; printf "%s", b } }' \
        "$tmp/base-ca.pem" "${cafiles[@]}")
    fi
  fi
  [ "${#NPM_CA}" -lt 120000 ] || fail "NPM_CA is ${#NPM_CA} bytes: too large for a build argument; set NPM_CA to the proxy's CA only"
  [ -z "$NPM_CA" ] || log "  passing $(grep -c 'BEGIN CERTIFICATE' <<<"$NPM_CA") extra CA certificate(s) from npm's TLS settings"
  cache=(); [ "${FERRY_CI_NO_CACHE:-}" != 1 ] || cache=(--no-cache)
  previous=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
  if ! docker build "${cache[@]}" -t "$image" --build-arg NPM_REGISTRY="$registry" --build-arg NPM_CA="$NPM_CA" . >"$tmp/build.log" 2>&1; then
    tail -40 "$tmp/build.log" >&2
    fail "docker build"
  fi
  took "built"
  # the image this build replaced, now untagged: remove it (fails harmlessly while a container uses it)
  if [ -n "$previous" ] && [ "$previous" != "$(docker image inspect --format '{{.Id}}' "$image")" ]; then
    docker image rm "$previous" >/dev/null 2>&1 || true
  fi
  # superseded build-stage images of earlier builds (newest first; the first is this build's cache)
  docker images -q --filter dangling=true --filter label=dev.ferry.stage=build | tail -n +2 \
    | xargs -r docker image rm >/dev/null 2>&1 || true
fi
size_mb=$(docker image inspect --format '{{.Size}}' "$image" | awk '{ printf "%.0f", $1 / 1000000 }')
log "image $image: ${size_mb} MB"
[ "$(docker run --rm --entrypoint id "$image" -u)" != 0 ] || fail "the image runs as root"
docker run --rm "$image" --version >/dev/null || fail "ferry --version in the image"

# ---- 2. postgres:15 + the emulator on a private network, then the first run
step "starting postgres:15 and the dbt Cloud emulator on network $net"
networks+=("$net")
docker network create "$net" >/dev/null
pg="$id-postgres"; emu="$id-emulator"
containers+=("$pg" "$emu")
docker run -d --name "$pg" --network "$net" --network-alias postgres \
  -e POSTGRES_USER=ferry -e POSTGRES_PASSWORD=ferry -e POSTGRES_DB=ferry postgres:15 >/dev/null
# 0.0.0.0 inside the private network only: no port is published on the host
docker run -d --name "$emu" --network "$net" --network-alias emulator \
  "$image" dbt-cloud emulator --host 0.0.0.0 --port 8080 --runs "$fixture_runs" --log-format json >/dev/null
wait_pg "$pg"
for _ in $(seq 60); do docker logs "$emu" 2>/dev/null | grep -q '"emulator_listening"' && break; sleep 0.5; done
docker logs "$emu" 2>/dev/null | grep -q '"emulator_listening"' || fail "the emulator did not start"
took "ready"

step "run 1: ferry run /config/team.yaml"
ferry_in run1 run /config/team.yaml || fail "ferry run exited $? (expected 0)"
[ "$(event "$tmp/run1.jsonl" run_end exitCode)" = 0 ] || fail "run 1: run_end.exitCode is not 0"
counts1=$(event "$tmp/run1.jsonl" load_info info.rowCounts) || fail "run 1: no load_info event"
[ "$(event "$tmp/run1.jsonl" load_info info.rowCounts.runs)" = "$fixture_runs" ] || fail "run 1: load_info runs is not $fixture_runs: $counts1"
# every table's rows in Postgres equal the load_info row count
while IFS='=' read -r table n; do
  got=$(psql_in "$pg" "select count(*) from dbt_cloud_data.\"$table\"")
  [ "$got" = "$n" ] || fail "run 1: dbt_cloud_data.$table has $got rows, load_info says $n"
done < <(node -e 'for (const [t, n] of Object.entries(JSON.parse(process.argv[1]))) console.log(`${t}=${n}`)' "$counts1")
[ "$(psql_in "$pg" 'select count(*) from dbt_cloud_data.runs')" = "$fixture_runs" ] || fail "run 1: runs is not $fixture_runs"
[ "$(psql_in "$pg" 'select count(*) from dbt_cloud_data._ferry_loads')" = 1 ] || fail "run 1: _ferry_loads is not 1"
transform_run=$(event "$tmp/run1.jsonl" run_end dbtCloudRunId) || fail "run 1: the dbt Cloud transform did not run"
took "exit 0, $(node -e 'console.log(Object.values(JSON.parse(process.argv[1])).reduce((a, b) => a + b, 0))' "$counts1") rows in $(node -e 'console.log(Object.keys(JSON.parse(process.argv[1])).length)' "$counts1") tables, runs = $fixture_runs"

# ---- 3. new runs on the emulator, then a second run from a fresh container: resume, not reload
step "run 2: $extra_runs new dbt Cloud runs (plus the transform's run $transform_run), then ferry run again"
new_ids=("$transform_run")
for i in $(seq "$extra_runs"); do
  ferry_in "trigger$i" dbt-cloud run-job --job-id "$job_id" --wait --poll-interval 1s --timeout 1m || fail "dbt-cloud run-job exited $?"
  new_ids+=("$(event "$tmp/trigger$i.jsonl" dbt_cloud_run runId)")
done
ferry_in run2 run /config/team.yaml || fail "second ferry run exited $? (expected 0)"
loaded2=$(event "$tmp/run2.jsonl" load_info info.rowCounts.runs) || fail "run 2: no load_info with runs"
expected=$((fixture_runs + ${#new_ids[@]}))
total=$(psql_in "$pg" 'select count(*) from dbt_cloud_data.runs')
loads=$(psql_in "$pg" 'select count(*) from dbt_cloud_data._ferry_loads')
found=$(psql_in "$pg" "select count(*) from dbt_cloud_data.runs where id in ($(IFS=,; echo "${new_ids[*]}"))")
[ "$loads" = 2 ] || fail "run 2: _ferry_loads has $loads rows (expected 2)"
[ "$total" = "$expected" ] || fail "run 2: runs has $total rows (expected $expected: no duplicates, no losses)"
[ "$found" = "${#new_ids[@]}" ] || fail "run 2: $found of the ${#new_ids[@]} new runs were loaded"
# resumed from the cursor stored in Postgres: only the new runs and the few behind the cursor (in-flight at
# run 1, or at its boundary) are read again, never the whole history
[ "$loaded2" -ge "${#new_ids[@]}" ] && [ "$loaded2" -lt $((fixture_runs / 10)) ] \
  || fail "run 2 loaded $loaded2 runs: expected the ${#new_ids[@]} new ones and a few at the cursor, not a full reload of $fixture_runs"
took "exit 0, loaded $loaded2 runs (of $total; ${#new_ids[@]} new), _ferry_loads = 2: resumed from destination state"

# the embedded default destination too: `ferry demo` (its own emulator) into DuckDB on the container's /work
step "ferry demo: DuckDB's native binding in the image"
ferry_in demo demo || fail "ferry demo exited $? (expected 0)"
[ "$(event "$tmp/demo.jsonl" load_info info.rowCounts.runs)" = "$fixture_runs" ] || fail "ferry demo: load_info runs is not $fixture_runs"
took "exit 0, runs = $fixture_runs in DuckDB"

# ---- 4. docker-compose: up until the pipeline exits, rows, down -v
compose_project="$id"
step "compose (${compose[*]}): up --abort-on-container-exit --exit-code-from pipeline"
"${compose[@]}" -f docker-compose.yml config -q
export FERRY_PG_PORT FERRY_EMULATOR_PORT
FERRY_PG_PORT=$(free_port)
FERRY_EMULATOR_PORT=$(free_port)
"${compose[@]}" -p "$compose_project" -f docker-compose.yml up --no-build --abort-on-container-exit --exit-code-from pipeline \
  >"$tmp/compose.log" 2>&1 || { tail -40 "$tmp/compose.log" >&2; fail "compose up: the pipeline service exited $?"; }
# --abort-on-container-exit stopped Postgres with the others: start it again to read what was loaded
"${compose[@]}" -p "$compose_project" start postgres >/dev/null 2>&1
cpg=$("${compose[@]}" -p "$compose_project" ps -q postgres)
wait_pg "$cpg"
crows=$(psql_in "$cpg" 'select count(*) from dbt_cloud_data.runs')
cloads=$(psql_in "$cpg" 'select count(*) from dbt_cloud_data._ferry_loads')
[ "$crows" = "$fixture_runs" ] || fail "compose: runs has $crows rows (expected $fixture_runs)"
[ "$cloads" = 1 ] || fail "compose: _ferry_loads has $cloads rows (expected 1)"
"${compose[@]}" -p "$compose_project" down -v --remove-orphans >/dev/null 2>&1
left=$(docker ps -aq --filter "label=com.docker.compose.project=$compose_project" | wc -l)
[ "$left" = 0 ] || fail "compose down left $left container(s)"
compose_project=""
took "pipeline exit 0, runs = $crows, torn down"

log "image ${size_mb} MB; all checks passed"
