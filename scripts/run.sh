#!/usr/bin/env bash
# Starts the action server and the Rasa server (REST channel on localhost:5005) in the
# foreground; Ctrl-C stops both. `run.sh shell` chats in the terminal instead.
# Both listen on 127.0.0.1 (BIND_HOST overrides). The Rasa HTTP API is on only when
# RASA_AUTH_TOKEN is set. The action server only runs actions for the caller that knows
# ACTION_SERVER_TOKEN; without one, a random token is made for this start.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PORT=${PORT:-5005}
ACTIONS_PORT=${ACTIONS_PORT:-5055}
export ACTION_ENDPOINT=${ACTION_ENDPOINT:-http://127.0.0.1:${ACTIONS_PORT}/webhook}
export ACTION_SERVER_TOKEN=${ACTION_SERVER_TOKEN:-$($PY -c 'import secrets; print(secrets.token_urlsafe(32))')}
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
  · HTTP API (/model/parse …): $( [ -n "${RASA_AUTH_TOKEN:-}" ] && echo "on, every call needs ?token=\$RASA_AUTH_TOKEN" || echo "off; set RASA_AUTH_TOKEN to switch it on" )

MSG
$PY -m bot.serve run --model models/current.tar.gz --port "$PORT"
