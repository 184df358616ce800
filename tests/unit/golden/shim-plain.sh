#!/bin/sh
# devbox shim for it's: runs it in the project's box
export PYTHONPATH='/a b:'\''c'\'''
exec '/opt/py thon/bin/python3' '-P' '-m' 'devbox' '_shim' '/nonexistent/golden/my '\''project'\'' $x/devbox.toml' 'it'\''s' "$@"
