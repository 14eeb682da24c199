#!/bin/bash
# Starts the pulled image once and checks that ComfyUI answers: HTTP 200 from
# GET /system_stats on the container port within COMFYUI_SMOKE_TIMEOUT seconds, while the
# container keeps running (and, if the image has a HEALTHCHECK, does not report unhealthy).
# GPU environments get all GPUs, as on the hosts. Exits non-zero on failure; the smoke
# container is always removed.
#
# Parameters (environment): SSM_ImageUri, SSM_Gpu, SSM_ContainerPort.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

load_image_params

SMOKE_TIMEOUT="${COMFYUI_SMOKE_TIMEOUT:-900}"
SMOKE_INTERVAL="${COMFYUI_SMOKE_INTERVAL:-5}"
SMOKE_URL="http://127.0.0.1:$CONTAINER_PORT/system_stats"

remove_smoke_container() {
  docker rm --force "$SMOKE_CONTAINER_NAME" >/dev/null 2>&1 || true
}

show_logs_and_die() {
  warn "last lines of the smoke container's output:"
  docker logs --tail 50 "$SMOKE_CONTAINER_NAME" >&2 2>&1 || true
  remove_smoke_container
  die "$*"
}

[[ -n $(local_image_id "$IMAGE_URI") ]] || die "image $IMAGE_URI is not present locally (pull it first)"

# Published on the loopback only: the builder's security group is not this check's concern.
run_args=(run --detach --name "$SMOKE_CONTAINER_NAME" --pull never --publish "127.0.0.1:$CONTAINER_PORT:$CONTAINER_PORT")
if [[ $GPU == true ]]; then
  run_args+=(--gpus all)
fi
if [[ -s $CONTAINER_ENV_FILE ]]; then
  run_args+=(--env-file "$CONTAINER_ENV_FILE")
fi

remove_smoke_container
trap 'SMOKE_STATUS=$?; remove_smoke_container; _comfyui_on_exit $SMOKE_STATUS' EXIT
docker "${run_args[@]}" "$IMAGE_URI" >/dev/null || show_logs_and_die "the image did not start"
log "waiting up to ${SMOKE_TIMEOUT}s for HTTP 200 from $SMOKE_URL ($([[ $GPU == true ]] && echo 'with GPUs' || echo 'without GPUs'))"

state_format=$(go_template '[[.State.Status]] [[if .State.Health]][[.State.Health.Status]][[else]]none[[end]] [[.State.ExitCode]]')
step=$SMOKE_INTERVAL
((step > 0)) || step=1
elapsed=0
code=none
while :; do
  state=$(docker inspect --format "$state_format" "$SMOKE_CONTAINER_NAME") \
    || show_logs_and_die "the smoke container disappeared"
  read -r status health exit_code <<<"$state"
  case $status in
    running | created | restarting) ;;
    *) show_logs_and_die "the image exited during the smoke check (status $status, exit code $exit_code)" ;;
  esac
  [[ $health != unhealthy ]] || show_logs_and_die "the image's HEALTHCHECK reports unhealthy"
  if [[ $status == running ]]; then
    code=$(curl --silent --output /dev/null --max-time 5 --write-out '%{http_code}' "$SMOKE_URL" || true)
    if [[ $code == 200 ]]; then
      log "smoke check passed: HTTP 200 from /system_stats after ${elapsed}s"
      break
    fi
  fi
  if ((elapsed >= SMOKE_TIMEOUT)); then
    show_logs_and_die "ComfyUI did not answer HTTP 200 on /system_stats within ${SMOKE_TIMEOUT}s (last answer $code, status $status)"
  fi
  sleep "$SMOKE_INTERVAL"
  elapsed=$((elapsed + step))
done
