#!/bin/sh
# Debian's PostgreSQL as a devbox service, in the foreground: `devbox up` runs this in this
# directory's box. The first start makes the cluster in $DEVBOX_DATA/pgdata, with trust
# authentication on 127.0.0.1 and on the unix socket (in /tmp, the box's own) and a database
# named $PGDATABASE; every start then runs postgres on 127.0.0.1:$PGPORT.
#
# postgres refuses to run as root: as root (devbox run by root) it runs as the box's `postgres`
# user, as anyone else as that user.
set -eu

: "${DEVBOX_DATA:?is set by devbox up (the data directory of the service)}"
port="${PGPORT:-5432}"
database="${PGDATABASE:-app}"
pgdata="$DEVBOX_DATA/pgdata"

# the PostgreSQL that Debian installed (15 on bookworm, 17 on trixie)
bin=""
for dir in /usr/lib/postgresql/*/bin; do
  if [ -x "$dir/postgres" ]; then bin="$dir"; fi
done
if [ -z "$bin" ]; then
  echo "start-postgres: no /usr/lib/postgresql/*/bin/postgres: is postgresql in [packages].apt?" >&2
  exit 1
fi

# "$@": the prefix that runs a command as the server's user: as root, the data directory is
# given to postgres (CAP_CHOWN), then each command drops to it (setpriv: CAP_SETUID, CAP_SETGID)
set --
if [ "$(id -u)" = 0 ]; then
  if ! chown postgres:postgres "$DEVBOX_DATA"; then
    echo "start-postgres: as root, this needs CAP_CHOWN, CAP_SETUID and CAP_SETGID" >&2
    exit 1
  fi
  set -- setpriv --reuid=postgres --regid=postgres --clear-groups --
fi

if ! "$@" test -s "$pgdata/PG_VERSION"; then  # asked as postgres: the cluster is its, mode 0700
  # the first start (or one that stopped half-way): make the cluster beside, then move it in
  echo "start-postgres: initialising $pgdata with a database named $database"
  "$@" rm -rf "$pgdata.new"
  "$@" "$bin/initdb" --pgdata="$pgdata.new" --username=postgres --auth=trust \
    --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  printf 'CREATE DATABASE "%s";\n' "$database" |
    "$@" "$bin/postgres" --single -j -D "$pgdata.new" postgres >/dev/null
  "$@" mv -T "$pgdata.new" "$pgdata"
fi

exec "$@" "$bin/postgres" -D "$pgdata" -p "$port" -c listen_addresses=127.0.0.1 \
  -c unix_socket_directories=/tmp
