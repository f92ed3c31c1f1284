# Source this file: makes sure a PostgreSQL server answers on 127.0.0.1:5432 (starting the machine's
# local cluster when it is down) and exports DATABASE_URL for the tests' no-Docker path.
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && ls /etc/postgresql >/dev/null 2>&1; then
    echo "ensure-postgres: starting the local cluster" >&2
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start >&2 || true
  fi
  for _ in $(seq 30); do pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && break; sleep 1; done
fi
if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
  echo "ensure-postgres: DATABASE_URL is set" >&2
else
  echo "ensure-postgres: no PostgreSQL on 127.0.0.1:5432" >&2
fi
