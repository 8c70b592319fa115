#!/usr/bin/env bash
# Makes sure the servers the tests talk to are running on 127.0.0.1: PostgreSQL 5432 (trust auth,
# superuser `postgres`) and Redis 6379. Installs them from Debian's packages on a machine that
# lacks them, starts them if stopped, and fails loudly otherwise: tests never skip silently.
# Usage: bash scripts/services.sh
set -euo pipefail

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
        echo "services: need root to run: $*" >&2; exit 1; fi
}

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

need_apt=()
command -v pg_ctlcluster >/dev/null 2>&1 || need_apt+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "services: installing ${need_apt[*]} (Debian packages)"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! pg_up; then
    version=$(ls /etc/postgresql | sort -V | tail -1)
    echo "services: starting PostgreSQL $version"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 30); do pg_up && break; sleep 1; done
    pg_up || { echo "services: PostgreSQL did not start" >&2; exit 1; }
fi
# Tests connect as `postgres` over TCP without a password (local trust, as on the CI machines).
if ! psql -h 127.0.0.1 -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1; then
    hba=$(as_root su postgres -c "psql -Atc 'show hba_file'")
    echo "services: allowing trust auth for 127.0.0.1 in $hba"
    as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    as_root su postgres -c "psql -Atc 'select pg_reload_conf()'" >/dev/null
fi

if ! redis_up; then
    echo "services: starting Redis"
    as_root mkdir -p /var/lib/redis /var/log/redis
    as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
        --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
    for _ in $(seq 30); do redis_up && break; sleep 0.5; done
    redis_up || { echo "services: Redis did not start" >&2; exit 1; }
fi
