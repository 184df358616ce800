#!/bin/sh
# devbox shim for python3: runs it in the project's box
unset PYTHONPATH
export DEVBOX_SHIM_SPEC='/nonexistent/golden/my '\''project'\'' $x/devbox.toml'
if [ -x '/nonexistent/golden store/projects/0123456789abcdef/launcher' ] && [ -e '/home/alice/.local/state/devbox/shims/0123456789abcdef/.verified/spec' ] && [ -e '/home/alice/.local/state/devbox/shims/0123456789abcdef/.verified/trust' ] && [ -e '/home/alice/.local/state/devbox/trust/it'\''s' ] &&
   [ ! '/nonexistent/golden/my '\''project'\'' $x/devbox.toml' -nt '/home/alice/.local/state/devbox/shims/0123456789abcdef/.verified/spec' ] && [ ! '/nonexistent/golden/my '\''project'\'' $x/devbox.toml' -ot '/home/alice/.local/state/devbox/shims/0123456789abcdef/.verified/spec' ] && [ ! '/home/alice/.local/state/devbox/trust/it'\''s' -nt '/home/alice/.local/state/devbox/shims/0123456789abcdef/.verified/trust' ] && [ ! '/home/alice/.local/state/devbox/trust/it'\''s' -ot '/home/alice/.local/state/devbox/shims/0123456789abcdef/.verified/trust' ]; then
  set -- 'python3' "$@"; . '/nonexistent/golden store/projects/0123456789abcdef/launcher'
fi
exec '/opt/py thon/bin/python3' '-P' '-m' 'devbox' '_shim' '/nonexistent/golden/my '\''project'\'' $x/devbox.toml' 'python3' "$@"
