#!/usr/bin/env bash
# Prints models/nlu-core-<hash>.tar.gz, where <hash> covers every input of training (config,
# domain, data and the code of the custom components with all it imports, found by
# scripts/model_fingerprint.py), so a model is retrained exactly when one of them changes.
set -eu
cd "$(dirname "$0")/.."
python=.venv/bin/python
[ -x "$python" ] || python=python3
echo "models/nlu-core-$("$python" scripts/model_fingerprint.py).tar.gz"
