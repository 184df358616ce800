#!/bin/sh
# Debian's PostgreSQL as a devbox service, in the foreground: `devbox up` runs this in this
# directory's box. The first start makes the cluster in $DEVBOX_DATA/pgdata, with trust
# authentication on 127.0.0.1 and on the unix socket (in /tmp, the box's own) and a database
# named $PGDATABASE; every start then runs postgres on 127.0.0.1:$PGPORT.
#
# postgres refuses to run as root: where devbox runs as root, the service's `user = "postgres"`
# makes devbox give it the data directory and run this as postgres; elsewhere it runs as you.
set -eu

: "${DEVBOX_DATA:?is set by devbox up (the data directory of the service)}"
port="${PGPORT:-5432}"
database="${PGDATABASE:-app}"
pgdata="$DEVBOX_DATA/pgdata"

if [ "$(id -u)" = 0 ]; then
  echo 'start-postgres: postgres does not run as root: set user = "postgres" in [services.db]' >&2
  exit 1
fi

# the PostgreSQL that Debian installed (15 on bookworm, 17 on trixie)
bin=""
for dir in /usr/lib/postgresql/*/bin; do
  if [ -x "$dir/postgres" ]; then bin="$dir"; fi
done
if [ -z "$bin" ]; then
  echo "start-postgres: no /usr/lib/postgresql/*/bin/postgres: is postgresql in [packages].apt?" >&2
  exit 1
fi

if [ ! -s "$pgdata/PG_VERSION" ]; then
  # the first start (or one that stopped half-way): make the cluster beside, then move it in
  echo "start-postgres: initialising $pgdata with a database named $database"
  rm -rf "$pgdata.new"
  "$bin/initdb" --pgdata="$pgdata.new" --username=postgres --auth=trust \
    --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  printf 'CREATE DATABASE "%s";\n' "$database" |
    "$bin/postgres" --single -j -D "$pgdata.new" postgres >/dev/null
  mv -T "$pgdata.new" "$pgdata"
fi

exec "$bin/postgres" -D "$pgdata" -p "$port" -c listen_addresses=127.0.0.1 \
  -c unix_socket_directories=/tmp
