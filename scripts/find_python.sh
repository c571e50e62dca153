#!/usr/bin/env bash
# Prints the path of a Python 3.10 interpreter, or explains what to install.
# Rasa 3.6 refuses Python 3.11+, so the version matters.
set -u
candidates=("${PYTHON:-}" python3.10 "$HOME/.pyenv/versions/3.10"*/bin/python /usr/bin/python3.10 /usr/local/bin/python3.10 python3)
for c in "${candidates[@]}"; do
  [ -n "$c" ] || continue
  p=$(command -v "$c" 2>/dev/null) || continue
  if "$p" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)' 2>/dev/null; then
    echo "$p"; exit 0
  fi
done
cat >&2 <<'MSG'
Python 3.10 is required (Rasa 3.6 does not run on 3.11 or newer) and none was found.
Install it, then run the command again, for example:
  - with pyenv:   pyenv install 3.10.13
  - on Ubuntu:    sudo apt install python3.10 python3.10-venv
  - or point to one:  make run PYTHON=/path/to/python3.10
MSG
exit 1
