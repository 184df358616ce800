#!/bin/sh
# Debian's MariaDB as a devbox service, in the foreground: `devbox up` runs this in this
# directory's box. The first start makes the data directory $DEVBOX_DATA/mysql, with a
# database named $MARIADB_DATABASE and a user "app" who may use it from 127.0.0.1 without a
# password (and root without one, from this box's socket); every start then runs the server
# on 127.0.0.1:$MARIADB_PORT, its socket in /tmp (the box's own). Debian's /etc/mysql is not
# read (--no-defaults): everything it needs is here.
#
# mariadbd does not run as root unless told to: where devbox runs as root, the service's
# `user = "mysql"` makes devbox give it the data directory and run this as mysql; elsewhere it
# runs as you.
set -eu

: "${DEVBOX_DATA:?is set by devbox up (the data directory of the service)}"
port="${MARIADB_PORT:-3306}"
database="${MARIADB_DATABASE:-app}"
datadir="$DEVBOX_DATA/mysql"

if [ "$(id -u)" = 0 ]; then
  echo 'start-mariadb: mariadbd does not run as root: set user = "mysql" in [services.db]' >&2
  exit 1
fi

if [ ! -d "$datadir/mysql" ]; then
  # the first start (or one that stopped half-way): make the data directory beside, then move
  # it in
  echo "start-mariadb: initialising $datadir with a database named $database"
  rm -rf "$datadir.new"
  sql="$(mktemp)"
  cat >"$sql" <<SQL
FLUSH PRIVILEGES;
DROP USER IF EXISTS 'root'@'$(hostname)';
CREATE DATABASE \`$database\`;
CREATE USER 'app'@'127.0.0.1';
GRANT ALL ON \`$database\`.* TO 'app'@'127.0.0.1';
SQL
  mariadb-install-db --no-defaults --datadir="$datadir.new" --skip-test-db \
    --skip-name-resolve --auth-root-authentication-method=normal --extra-file="$sql" >/dev/null
  rm -f "$sql"
  mv -T "$datadir.new" "$datadir"
fi

exec mariadbd --no-defaults --datadir="$datadir" --port="$port" --bind-address=127.0.0.1 \
  --socket="/tmp/mariadb-$port.sock" --pid-file="$datadir/mariadbd.pid" --skip-name-resolve
