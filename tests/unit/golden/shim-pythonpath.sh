#!/bin/sh
# devbox shim: runs its command in the project's box (written by devbox from shim.sh.in)
export PYTHONPATH='/a b:'\''c'\'''
# the launcher hands over to `devbox run`, which then checks this spec's trust
export DEVBOX_SHIM_SPEC='/nonexistent/golden/my '\''project'\'' $x/devbox.toml'
# the launcher while the spec and its trust record have the mtimes of the stamps devbox left
# when it last checked the trust itself (-nt and -ot: nanoseconds in dash, bash and busybox),
# and it, its directories and the store are the user's own (see devbox/front.sh)
# shellcheck disable=SC3013
if [ -O '/nonexistent/golden store' ] && [ -O '/nonexistent/golden store/projects' ] && [ -O '/nonexistent/golden store/projects/0123456789abcdef' ] && [ -O '/nonexistent/golden store/projects/0123456789abcdef/launcher' ] && [ -x '/nonexistent/golden store/projects/0123456789abcdef/launcher' ] && [ -e '/home/alice/.local/state/devbox/shims/0123456789abcdef/.verified/spec' ] && [ -e '/home/alice/.local/state/devbox/shims/0123456789abcdef/.verified/trust' ] && [ -e '/home/alice/.local/state/devbox/trust/it'\''s' ] &&
   [ ! '/nonexistent/golden/my '\''project'\'' $x/devbox.toml' -nt '/home/alice/.local/state/devbox/shims/0123456789abcdef/.verified/spec' ] && [ ! '/nonexistent/golden/my '\''project'\'' $x/devbox.toml' -ot '/home/alice/.local/state/devbox/shims/0123456789abcdef/.verified/spec' ] && [ ! '/home/alice/.local/state/devbox/trust/it'\''s' -nt '/home/alice/.local/state/devbox/shims/0123456789abcdef/.verified/trust' ] && [ ! '/home/alice/.local/state/devbox/trust/it'\''s' -ot '/home/alice/.local/state/devbox/shims/0123456789abcdef/.verified/trust' ]; then
  # sourced, not exec'd: one sh start-up less (the launcher exits either way); a shim's
  # command never names a [scripts] entry, whatever the caller's environment says
  # shellcheck disable=SC2034
  DEVBOX_RUN_SCRIPT=
  set -- 'it'\''s' "$@"; . '/nonexistent/golden store/projects/0123456789abcdef/launcher'
fi
exec '/opt/py thon/bin/python3' '-P' '-m' 'devbox' '_shim' '/nonexistent/golden/my '\''project'\'' $x/devbox.toml' 'it'\''s' "$@"
