#!/bin/bash
# Installed on the host as /usr/local/sbin/comfyui-health; comfyui-health.timer runs it every
# minute with the settings of /etc/comfyui/image.env. Restarts comfyui.service when ComfyUI
# has not answered GET /system_stats with HTTP 200 for COMFYUI_HEALTH_FAILURES checks in a
# row, once the service has been up for COMFYUI_HEALTH_GRACE seconds (model loading).
set -euo pipefail

port=${COMFYUI_PORT-8188}
grace=${COMFYUI_HEALTH_GRACE:-600}
max_failures=${COMFYUI_HEALTH_FAILURES:-3}
state_dir=${COMFYUI_HEALTH_STATE_DIR:-/run/comfyui-health}
counter="$state_dir/failures"

note() { printf 'comfyui-health: %s\n' "$*"; }

[[ $port =~ ^[1-9][0-9]{0,4}$ ]] || { note "COMFYUI_PORT ${port@Q} is not a port"; exit 1; }
[[ $grace =~ ^[0-9]+$ && $max_failures =~ ^[1-9][0-9]*$ ]] \
  || { note "COMFYUI_HEALTH_GRACE and COMFYUI_HEALTH_FAILURES must be whole numbers"; exit 1; }
mkdir -p "$state_dir"

# Stopped on purpose (or never started): nothing to check.
if ! systemctl is-active --quiet comfyui.service; then
  rm -f "$counter"
  exit 0
fi

# Seconds since the service last became active, from the monotonic clock.
since=$(systemctl show --property=ActiveEnterTimestampMonotonic --value comfyui.service)
read -r uptime _ </proc/uptime
uptime=${uptime%.*}
if [[ $since =~ ^[0-9]+$ ]] && ((uptime - since / 1000000 < grace)); then
  rm -f "$counter"
  exit 0
fi

code=$(curl --silent --output /dev/null --max-time 10 --write-out '%{http_code}' "http://127.0.0.1:$port/system_stats" || true)
[[ -n $code ]] || code=none
if [[ $code == 200 ]]; then
  rm -f "$counter"
  exit 0
fi

failures=0
[[ -f $counter ]] && failures=$(<"$counter")
[[ $failures =~ ^[0-9]+$ ]] || failures=0
failures=$((failures + 1))
if ((failures < max_failures)); then
  printf '%s\n' "$failures" >"$counter"
  note "no HTTP 200 from port $port (got $code), $failures of $max_failures"
  exit 0
fi
rm -f "$counter"
note "no HTTP 200 from port $port for $failures checks: restarting comfyui.service"
systemctl restart comfyui.service
