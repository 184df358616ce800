#!/bin/sh
# PostgreSQL in the foreground on $PGLISTEN (default 127.0.0.1), port $PGPORT, its data in
# $PGDATA (made by initdb on the first start, trust auth). Started as root (in the podman
# containers), it gives the data dir to the postgres user and runs as that user (postgres refuses
# to run as root); devbox starts it as postgres already (`user = "postgres"`). The services
# bench runs this same script in the devbox box and in the podman image; podman-compose's
# containers sit on a bridge, so there it listens on 0.0.0.0 and trusts the bridge too.
set -eu
: "${PGDATA:?PGDATA is not set}" "${PGPORT:?PGPORT is not set}"
listen="${PGLISTEN:-127.0.0.1}"
if [ "$(id -u)" = 0 ]; then
  chown -R postgres:postgres "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups -- sh "$0" "$@"
fi
for bin in /usr/lib/postgresql/*/bin; do :; done
if [ ! -f "$PGDATA/PG_VERSION" ]; then
  "$bin/initdb" --pgdata="$PGDATA" --username=postgres --auth=trust >/dev/null
  if [ "$listen" != 127.0.0.1 ]; then
    echo "host all all 0.0.0.0/0 trust" >>"$PGDATA/pg_hba.conf"
  fi
fi
exec "$bin/postgres" -D "$PGDATA" -h "$listen" -p "$PGPORT" -k /tmp
