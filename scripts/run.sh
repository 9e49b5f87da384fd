#!/usr/bin/env bash
# Start the assistant on loopback (status store, action server, Rasa server) and open a
# terminal chat. Embedded defaults: SQLite files and logs under var/, in-memory locks.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD" RASA_TELEMETRY_ENABLED=false
# Databases, their WAL files and logs hold personal data: readable by this user only.
umask 077
mkdir -p var/log
chmod -R go-rwx var

pids=()
stop_all() { [ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null || true; }
trap stop_all EXIT INT TERM

start() { # name, service, placeholder=value... (scripts/processes.py: command and secrets)
  local name=$1; shift
  .venv/bin/python scripts/processes.py "$@" >"var/log/$name.log" 2>&1 &
  pids+=($!)
}

wait_for() { # name, url
  for _ in $(seq 1 180); do
    if curl -fsS "$2" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  echo "$1 did not start; see var/log/$1.log" >&2
  exit 1
}

# Secrets for the embedded setup: made once, kept out of git, readable by the owner only.
.venv/bin/python scripts/local_secrets.py var/secrets.env
set -a && . var/secrets.env && set +a

STORE_RASA_URL=http://127.0.0.1:5005 start store store
wait_for store http://127.0.0.1:5100/health
# Rasa pulls its model from the store (endpoints.yml): `make train`'s model goes live
# there unless a model trained in the console is live.
model=$(ls -t bot/models/*.tar.gz | head -1)
.venv/bin/python scripts/processes.py import-model model="$model" >>var/log/store.log 2>&1
SANIC_HOST=127.0.0.1 start actions actions actions_port=5055
start rasa rasa model="$model" rasa_port=5005 credentials=credentials.yml endpoints=endpoints.yml
start trainer trainer

wait_for actions http://127.0.0.1:5055/health
wait_for rasa http://127.0.0.1:5005/webhooks/rest/

cat <<MSG

大安区便民服务小助手 is running:
  REST channel   POST http://127.0.0.1:5005/webhooks/rest/webhook
                 {"sender": "resident-1", "message": "老年证咋个办"}
  action server  http://127.0.0.1:5055
  status store   http://127.0.0.1:5100  (API: /openapi.yaml; staff token in var/secrets.env)
  web widget     http://127.0.0.1:5100/demo/  (the district page stand-in)
  staff console  http://127.0.0.1:5100/console/  (first admin: make admin USERNAME=…;
                 训练与模型: retrain from what staff reviewed, activate, roll back)
  logs           var/log/
MSG

if [ -t 0 ]; then
  echo "Type a message (Ctrl-D or 再见 then Ctrl-D to quit)."
  .venv/bin/python scripts/chat.py
else
  echo "No terminal attached: serving until stopped (Ctrl-C)."
  wait
fi
