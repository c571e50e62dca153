#!/usr/bin/env bash
# Starts the action server and the Rasa server (REST + HTTP API on localhost:5005) in the
# foreground; Ctrl-C stops both. `run.sh shell` chats in the terminal instead.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PORT=${PORT:-5005}
ACTIONS_PORT=${ACTIONS_PORT:-5055}
export ACTION_ENDPOINT=${ACTION_ENDPOINT:-http://127.0.0.1:${ACTIONS_PORT}/webhook}
mkdir -p var

echo "Preparing the booking database …"
$PY -m bot.serve migrate

$PY -m bot.serve actions --port "$ACTIONS_PORT" &
actions_pid=$!
cleanup() { kill "$actions_pid" 2>/dev/null || true; wait "$actions_pid" 2>/dev/null || true; }
trap cleanup EXIT INT TERM

for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:${ACTIONS_PORT}/health" >/dev/null 2>&1 && break
  sleep 0.5
done

if [ "${1:-}" = "shell" ]; then
  $PY -m bot.serve shell --model models/current.tar.gz
  exit 0
fi

cat <<MSG

  出入境服务助手 is starting on http://localhost:${PORT}
  · Web chat:        http://localhost:${PORT}/webchat
  · Hall guide:      http://localhost:${PORT}/guide
  · REST:            curl -s localhost:${PORT}/webhooks/rest/webhook -H 'Content-Type: application/json' \\
                       -d '{"sender":"me","message":"办护照要带什么材料"}'
  · Terminal chat:   make shell          Stop: Ctrl-C

MSG
$PY -m bot.serve run --model models/current.tar.gz --port "$PORT"
