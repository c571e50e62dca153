#!/usr/bin/env bash
# Trains only when no model exists for the current data, config and NLU code.
set -euo pipefail
cd "$(dirname "$0")/.."
model=$(scripts/model_path.sh)
if [ -f "$model" ]; then
  echo "Model is up to date: $model"
else
  name=$(basename "$model" .tar.gz)
  echo "Training $name (data or config changed) …"
  start=$(date +%s)
  # A link left pointing at a deleted model makes `rasa` itself fail at start-up (its CLI
  # looks for the newest model while building its arguments).
  [ -e models/current.tar.gz ] || rm -f models/current.tar.gz
  .venv/bin/rasa train --domain domain --fixed-model-name "$name" --out models --quiet
  echo "Trained in $(( $(date +%s) - start )) s: $model"
  find models -name 'nlu-core-*.tar.gz' ! -name "$(basename "$model")" -delete
fi
ln -sf "$(basename "$model")" models/current.tar.gz
