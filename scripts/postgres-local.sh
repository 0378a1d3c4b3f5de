#!/usr/bin/env bash
# A throwaway PostgreSQL server on 127.0.0.1 for tests and local scale-out trials.
#
#   scripts/postgres-local.sh start   start it (idempotent) and print its URL
#   scripts/postgres-local.sh url     print the URL of the running server (exit 1 if it is not running)
#   scripts/postgres-local.sh stop    stop it and delete its data
#
# The URL looks like postgres://harness@127.0.0.1:PORT/harness (trust authentication, no
# password). State lives in $HARNESS_PG_DIR (default /tmp/harness-pg): data/, server.log, port.
# Port: $HARNESS_PG_PORT, else 55432. Installs Debian's `postgresql` with apt-get when initdb is
# missing. The server runs as the `postgres` user when started as root (initdb refuses root).
#
# TEST ONLY: fsync, synchronous_commit and full_page_writes are off, so a crash can lose or
# corrupt data. Never keep real results in this server; run a real PostgreSQL for that.
set -euo pipefail

dir="${HARNESS_PG_DIR:-/tmp/harness-pg}"
port="${HARNESS_PG_PORT:-55432}"
data="$dir/data"
log="$dir/server.log"
url="postgres://harness@127.0.0.1:$port/harness"

say() { echo "postgres-local: $*" >&2; }

find_bin() {
    local name="$1" found
    if found="$(command -v "$name" 2>/dev/null)"; then
        echo "$found"
        return 0
    fi
    found="$(ls -d /usr/lib/postgresql/*/bin/"$name" 2>/dev/null | sort -V | tail -n 1 || true)"
    [[ -n "$found" ]] && echo "$found"
}

install_postgres() {
    if ! command -v apt-get >/dev/null; then
        say "initdb not found and apt-get is not available: install PostgreSQL (server binaries initdb, pg_ctl) and retry"
        exit 3
    fi
    say "initdb not found: installing Debian's postgresql with apt-get"
    local sudo=()
    [[ "$(id -u)" -ne 0 ]] && sudo=(sudo)
    if ! DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends postgresql >&2; then
        "${sudo[@]}" apt-get update >&2 || true
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends postgresql >&2 || {
            say "could not install postgresql with apt-get; install it by hand and retry"
            exit 3
        }
    fi
}

# Runs a PostgreSQL program as the server's owner.
as_owner() {
    if [[ "$(id -u)" -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

running() {
    [[ -f "$data/postmaster.pid" ]] || return 1
    local pg_ctl
    pg_ctl="$(find_bin pg_ctl)" || return 1
    as_owner "$pg_ctl" -D "$data" status >/dev/null 2>&1
}

start() {
    local initdb pg_ctl
    initdb="$(find_bin initdb || true)"
    if [[ -z "$initdb" ]]; then
        install_postgres
        initdb="$(find_bin initdb)" || { say "initdb still not found after installing postgresql"; exit 3; }
    fi
    pg_ctl="$(find_bin pg_ctl)"
    mkdir -p "$dir"
    if [[ "$(id -u)" -eq 0 ]]; then
        id postgres >/dev/null 2>&1 || useradd --system --home-dir "$dir" --shell /usr/sbin/nologin postgres
        chown postgres "$dir"
    fi
    # One starter at a time (tests call this in parallel).
    exec 9>"$dir/.lock"
    flock 9
    if running; then
        echo "$url"
        return 0
    fi
    if [[ ! -f "$data/PG_VERSION" ]]; then
        rm -rf "$data"
        as_owner mkdir -p "$data"
        as_owner "$initdb" -D "$data" -U harness --auth=trust -E UTF8 --no-locale --no-sync >"$dir/initdb.log" 2>&1 || {
            say "initdb failed; see $dir/initdb.log"
            exit 1
        }
    fi
    as_owner touch "$log"
    as_owner mkdir -p "$dir/run"
    # 9>&-: the server must not inherit (and hold) the lock.
    if ! as_owner "$pg_ctl" -D "$data" -l "$log" -w -t 60 start 9>&- \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir/run -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >/dev/null; then
        say "the server did not start; see $log (is port $port taken? set HARNESS_PG_PORT)"
        exit 1
    fi
    local psql createdb
    psql="$(find_bin psql)"
    createdb="$(find_bin createdb)"
    if ! "$psql" -h 127.0.0.1 -p "$port" -U harness -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'harness'" | grep -q 1; then
        "$createdb" -h 127.0.0.1 -p "$port" -U harness harness
    fi
    echo "$port" >"$dir/port"
    echo "$url"
}

stop() {
    if running; then
        as_owner "$(find_bin pg_ctl)" -D "$data" -m fast -w stop >/dev/null
    fi
    rm -rf "$dir"
    say "stopped; $dir removed"
}

case "${1:-}" in
    start) start ;;
    url)
        if running; then echo "$url"; else say "not running; scripts/postgres-local.sh start starts it"; exit 1; fi
        ;;
    stop) stop ;;
    *)
        echo "usage: $0 start|stop|url" >&2
        exit 2
        ;;
esac
