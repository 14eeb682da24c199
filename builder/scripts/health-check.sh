#!/bin/bash
# Runs on a test instance freshly booted from the new AMI, before the AMI is published: the
# image must come up by itself, as it will for consumers. Checks, within TimeoutSeconds of
# the start: Docker active; the comfyui container running from exactly
# the pushed image (reference and image id); nvidia-smi working when the environment wants a
# GPU; ComfyUI answering HTTP 200 on /system_stats. The last line on stderr says what failed.
#
# Parameters (environment): SSM_ImageUri, SSM_Gpu, SSM_ContainerPort, SSM_TimeoutSeconds.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

load_image_params

timeout_seconds=${SSM_TimeoutSeconds-600}
if ! [[ $timeout_seconds =~ ^[1-9][0-9]{0,3}$ ]]; then
  die "TimeoutSeconds $(printable "$timeout_seconds") must be a number from 1 to 9999"
fi
HEALTH_INTERVAL="${COMFYUI_HEALTH_INTERVAL:-5}"
step=$HEALTH_INTERVAL
((step > 0)) || step=1
elapsed=0

# Counts time by the intervals slept, so a stalled command cannot stretch the budget unnoticed.
wait_a_little() {
  ((elapsed < timeout_seconds)) || return 1
  sleep "$HEALTH_INTERVAL"
  elapsed=$((elapsed + step))
}

show_container_logs() {
  warn "last lines of the comfyui container's output:"
  docker logs --tail 30 "$CONTAINER_NAME" >&2 2>&1 || true
}

# 1. Docker
until systemctl is-active --quiet docker; do
  wait_a_little || die "docker is not active after ${elapsed}s"
done
log "docker is active"

# 2. The container comfyui.service starts at boot, from exactly the pushed image.
expected_id=$(local_image_id "$IMAGE_URI")
[[ -n $expected_id ]] || die "image $IMAGE_URI is not on this AMI"
state_format=$(go_template '[[.State.Status]] [[.Image]] [[.Config.Image]]')
while :; do
  state=$(docker inspect --format "$state_format" "$CONTAINER_NAME" 2>/dev/null) || state="missing - -"
  read -r status image_id image_ref <<<"$state"
  [[ $status == running ]] && break
  if ! wait_a_little; then
    [[ $status == missing ]] || show_container_logs
    die "container $CONTAINER_NAME is $status, not running, ${elapsed}s after the check started"
  fi
done
if [[ $image_ref != "$IMAGE_URI" || $image_id != "$expected_id" ]]; then
  die "container $CONTAINER_NAME runs $(printable "$image_ref") ($image_id), not the pushed $IMAGE_URI ($expected_id)"
fi
log "container $CONTAINER_NAME runs $IMAGE_URI"

# 3. The GPU, when the environment wants one.
if [[ $GPU == true ]]; then
  nvidia-smi -L >&2 || die "nvidia-smi failed: no usable GPU (driver not loaded after boot?)"
  log "nvidia-smi sees the GPU"
fi

# 4. ComfyUI answers.
url="http://127.0.0.1:$CONTAINER_PORT/system_stats"
code=000
while :; do
  code=$(curl --silent --output /dev/null --max-time 5 --write-out '%{http_code}' "$url") || code=000
  [[ $code == 200 ]] && break
  state=$(docker inspect --format "$state_format" "$CONTAINER_NAME" 2>/dev/null) || state="missing - -"
  read -r running _ <<<"$state"
  if [[ $running != running ]]; then
    show_container_logs
    die "container $CONTAINER_NAME stopped ($running) before ComfyUI answered on port $CONTAINER_PORT"
  fi
  if ! wait_a_little; then
    show_container_logs
    if [[ $code == 000 ]]; then
      die "ComfyUI did not answer on $url within ${timeout_seconds}s"
    fi
    die "ComfyUI answered HTTP $code, not 200, on $url within ${timeout_seconds}s"
  fi
done
log "health check passed: ComfyUI answered HTTP 200 on $url after ${elapsed}s"
