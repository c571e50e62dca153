#!/usr/bin/env bash
# Prints models/<hash>.tar.gz, where <hash> covers every input of training, so a model is
# retrained exactly when the data, the config or the custom NLU code changes.
set -eu
cd "$(dirname "$0")/.."
hash=$( { cat config.yml domain/*.yml; find data bot/nlu bot/text.py bot/vocabulary.py bot/emergency.py bot/emergency_learned.py bot/understand.py -type f \( -name '*.yml' -o -name '*.txt' -o -name '*.py' \) 2>/dev/null | LC_ALL=C sort | xargs cat; } | sha256sum | cut -c1-16)
echo "models/nlu-core-${hash}.tar.gz"
