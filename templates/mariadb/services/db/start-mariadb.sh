#!/bin/sh
# Debian's MariaDB as a devbox service, in the foreground: `devbox up` runs this in this
# directory's box. The first start makes the data directory $DEVBOX_DATA/mysql, with a
# database named $MARIADB_DATABASE and a user "app" who may use it from 127.0.0.1 without a
# password (and root without one, from this box's socket); every start then runs the server
# on 127.0.0.1:$MARIADB_PORT, its socket in /tmp (the box's own). Debian's /etc/mysql is not
# read (--no-defaults): everything it needs is here.
#
# mariadbd does not run as root unless told to: as root (devbox run by root) it runs as the box's
# `mysql` user, as anyone else as that user.
set -eu

: "${DEVBOX_DATA:?is set by devbox up (the data directory of the service)}"
port="${MARIADB_PORT:-3306}"
database="${MARIADB_DATABASE:-app}"
datadir="$DEVBOX_DATA/mysql"

# "$@": the prefix that runs a command as the server's user: as root, the data directory is
# given to mysql (CAP_CHOWN), then each command drops to it (setpriv: CAP_SETUID, CAP_SETGID)
set --
if [ "$(id -u)" = 0 ]; then
  if ! chown mysql:mysql "$DEVBOX_DATA"; then
    echo "start-mariadb: as root, this needs CAP_CHOWN, CAP_SETUID and CAP_SETGID" >&2
    exit 1
  fi
  set -- setpriv --reuid=mysql --regid=mysql --clear-groups --
fi

if ! "$@" test -d "$datadir/mysql"; then  # asked as mysql: the data directory is its, mode 0700
  # the first start (or one that stopped half-way): make the data directory beside, then move
  # it in
  echo "start-mariadb: initialising $datadir with a database named $database"
  "$@" rm -rf "$datadir.new"
  sql="$(mktemp)"
  cat >"$sql" <<SQL
FLUSH PRIVILEGES;
DROP USER IF EXISTS 'root'@'$(hostname)';
CREATE DATABASE \`$database\`;
CREATE USER 'app'@'127.0.0.1';
GRANT ALL ON \`$database\`.* TO 'app'@'127.0.0.1';
SQL
  chmod 644 "$sql"  # for the server's user
  "$@" mariadb-install-db --no-defaults --datadir="$datadir.new" --skip-test-db \
    --skip-name-resolve --auth-root-authentication-method=normal --extra-file="$sql" >/dev/null
  rm -f "$sql"
  "$@" mv -T "$datadir.new" "$datadir"
fi

exec "$@" mariadbd --no-defaults --datadir="$datadir" --port="$port" --bind-address=127.0.0.1 \
  --socket="/tmp/mariadb-$port.sock" --pid-file="$datadir/mariadbd.pid" --skip-name-resolve
