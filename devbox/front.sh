#!/bin/sh
# devbox: the `devbox` command (installed from devbox/front.sh by the wheel; the Python CLI is
# `devbox-cli`, or `python -m devbox`).
#
# `devbox run [--] CMD [ARG...]` (no options, DEVBOX_LAUNCHER_SPEC unset: fastpath.run_command's
# rule) runs the project's launcher straight away (sourced: it ends in exec), with shell builtins
# only (without `--`, CMD may name one of the spec's [scripts]: DEVBOX_RUN_SCRIPT=1 tells the
# launcher to look): no Python, no other process, not even a second sh. The project is the nearest directory at or above the physical working
# directory with a devbox.toml file (as fastpath.find_project on os.getcwd()); its launcher is
# found through the store's by-path index, STORE/by-path<PROJECT'S REAL PATH>/.launcher, a
# symlink that devbox writes with the launcher (fastpath.index_entry), so no hashing is needed.
# The launcher checks by itself that it is up to date, and hands over to Python when it is not.
# Everything else (other verbs, options, no launcher, no project, a store only Python can
# locate) execs the Python CLI with the arguments unchanged.

_devbox_cli() {
  # devbox-cli beside this script (venv, pipx venv, --user and system installs), else beside
  # the file a symlink to this script names (pipx links ~/.local/bin/devbox), else python3 -m
  case $0 in
    */*) _devbox_d=${0%/*} ;;
    *) _devbox_d=. ;;
  esac
  if [ -f "$_devbox_d/devbox-cli" ] && [ -x "$_devbox_d/devbox-cli" ]; then
    exec "$_devbox_d/devbox-cli" "$@"
  fi
  if [ -L "$0" ] && _devbox_d=$(readlink -f -- "$0") && [ -n "$_devbox_d" ]; then
    _devbox_d=${_devbox_d%/*}
    if [ -f "$_devbox_d/devbox-cli" ] && [ -x "$_devbox_d/devbox-cli" ]; then
      exec "$_devbox_d/devbox-cli" "$@"
    fi
  fi
  exec python3 -m devbox "$@"
}

_devbox_launcher() {
  # Set _devbox_l to the project's launcher, or fail (then Python decides, and refuses a store
  # that is not the user's own, saying why).
  #
  # Nothing another user made is run: the store, the index entry's directory and the launcher
  # (the entry is a symlink: -O tests its target) must be the user's own. -O is a builtin test;
  # modes need a fork (stat) here, so they are left to the Python CLI, which refuses a store
  # others can write and makes everything in it 0700/0600 (devbox/store/private.py). Owners
  # suffice then: only an owner (or root) can change a mode, or make a file or directory owned
  # by the user; a directory of the user's that is 0700 (or, from an older devbox, 0755) holds
  # only what the user put there, so a path of the user's own directories ending in a file of
  # the user's own was made by the user. Another user's store, or a planted entry or launcher in
  # it (made by its owner or by anyone it lets in), fails one of the three tests.
  # The store, as fastpath.simple_store_root computes it (Linux: devbox runs nowhere else).
  # DEVBOX_HOME only when it is absolute and normal: Python normalises `..` lexically
  # (fastpath.devbox_home, for the store and the state dir alike), the kernel would resolve it
  # through symlinks.
  if [ -n "${DEVBOX_HOME-}" ]; then
    case $DEVBOX_HOME in
      /*) ;;
      *) return 1 ;;
    esac
    case $DEVBOX_HOME/ in
      *//* | */./* | */../*) return 1 ;;
    esac
    _devbox_s=$DEVBOX_HOME
  else
    case ${XDG_DATA_HOME-} in
      /*) _devbox_s=$XDG_DATA_HOME/devbox ;;
      *)
        case ${HOME-} in
          /*) _devbox_s=${HOME%/}/.local/share/devbox ;;
          *) return 1 ;;  # HOME unset or relative: platformdirs decides
        esac
        ;;
    esac
  fi
  # Only a store of the user's own (see above).
  [ -O "$_devbox_s" ] || return 1
  # The physical working directory (os.getcwd()); PWD is given back as it was.
  _devbox_o=${PWD-}
  cd -P . 2>/dev/null || return 1
  _devbox_p=$PWD
  PWD=$_devbox_o
  case $_devbox_p in
    /*) ;;
    *) return 1 ;;  # the working directory is gone
  esac
  _devbox_p=${_devbox_p%/}  # the root directory: ""
  while :; do
    if [ -f "$_devbox_p/devbox.toml" ]; then
      _devbox_l=$_devbox_s/by-path$_devbox_p/.launcher
      [ -f "$_devbox_l" ] && [ -x "$_devbox_l" ] && [ -O "$_devbox_l" ] &&
        [ -O "$_devbox_s/by-path$_devbox_p" ]
      return
    fi
    [ -n "$_devbox_p" ] || return 1
    _devbox_p=${_devbox_p%/*}
  done
}

if [ $# -ge 2 ] && [ "$1" = run ] && [ -z "${DEVBOX_LAUNCHER_SPEC-}" ]; then
  case $2 in
    --)
      if [ $# -ge 3 ] && _devbox_launcher; then
        shift 2
        # shellcheck disable=SC2034  # read by the launcher: `--`, a command, never a script
        DEVBOX_RUN_SCRIPT=
        # shellcheck disable=SC1090  # sourced, as a shim does: one sh start-up less
        . "$_devbox_l"
      fi
      ;;
    -*) ;;
    *)
      if _devbox_launcher; then
        shift
        # shellcheck disable=SC2034  # read by the launcher: it runs a [scripts] entry so named
        DEVBOX_RUN_SCRIPT=1
        # shellcheck disable=SC1090
        . "$_devbox_l"
      fi
      ;;
  esac
fi
_devbox_cli "$@"
