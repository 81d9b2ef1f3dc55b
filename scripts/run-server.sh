#!/usr/bin/env bash
# `make run`: starts bin/task-app in the foreground on 127.0.0.1:8002.
# Without ENVIRONMENT_API_KEY it uses the key kept in .env-key (mode 0600),
# generating a strong one on the first run and printing it once.
# Extra task-app options: make run ARGS="--port 9000 --log-level debug".
set -euo pipefail
cd "$(dirname "$0")/.."
keyfile=.env-key
port=8002
if [[ " ${ARGS:-} " =~ \ --port[\ =]([0-9]+) ]]; then port=${BASH_REMATCH[1]}; fi
if [ -z "${ENVIRONMENT_API_KEY:-}" ]; then
    if [ -s "$keyfile" ]; then
        ENVIRONMENT_API_KEY=$(cat "$keyfile")
        echo "Using the ENVIRONMENT_API_KEY kept in $keyfile"
    else
        ENVIRONMENT_API_KEY="sk_env_$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
        (umask 077 && printf '%s\n' "$ENVIRONMENT_API_KEY" > "$keyfile")
        chmod 600 "$keyfile"
        cat <<MSG
Generated a new ENVIRONMENT_API_KEY (kept in $keyfile, mode 0600; shown only now):

  $ENVIRONMENT_API_KEY

Try it:
  curl -H "X-API-Key: $ENVIRONMENT_API_KEY" http://127.0.0.1:$port/task_info

MSG
    fi
    export ENVIRONMENT_API_KEY
fi
# shellcheck disable=SC2086 # ARGS is a list of options on purpose
exec bin/task-app ${ARGS:-}
