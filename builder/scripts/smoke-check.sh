#!/bin/bash
# Starts the pulled image once and checks that it stays up: healthy by its own Docker
# HEALTHCHECK if it has one, otherwise still running after COMFYUI_SMOKE_MIN_UPTIME seconds.
# The builder may have no GPU: GPUs are passed only when the environment wants them and
# nvidia-smi works here. Exits non-zero on failure; the smoke container is always removed.
#
# Parameters (environment): SSM_ImageUri, SSM_Gpu, SSM_ContainerPort.
set -euo pipefail

SCRIPT_DIR=${BASH_SOURCE[0]%/*}
[[ $SCRIPT_DIR != "${BASH_SOURCE[0]}" ]] || SCRIPT_DIR=.
COMFYUI_STEP=smoke-check
# shellcheck source=lib.sh
source "$SCRIPT_DIR/lib.sh"

load_image_params

SMOKE_TIMEOUT="${COMFYUI_SMOKE_TIMEOUT:-900}"
SMOKE_INTERVAL="${COMFYUI_SMOKE_INTERVAL:-5}"
SMOKE_MIN_UPTIME="${COMFYUI_SMOKE_MIN_UPTIME:-60}"

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

run_args=(run --detach --name "$SMOKE_CONTAINER_NAME" --pull never)
if [[ $GPU == true ]] && nvidia-smi -L >/dev/null 2>&1; then
  run_args+=(--gpus all)
  log "smoke run with GPUs"
else
  log "smoke run without GPUs ($([[ $GPU == true ]] && echo 'no usable GPU on this builder' || echo 'CPU-only environment'))"
fi
if [[ -s $CONTAINER_ENV_FILE ]]; then
  run_args+=(--env-file "$CONTAINER_ENV_FILE")
fi

healthcheck=$(docker image inspect --format "$(go_template '[[json .Config.Healthcheck]]')" "$IMAGE_URI") \
  || die "cannot inspect $IMAGE_URI"
has_healthcheck=false
if [[ -n $healthcheck && $healthcheck != null && $healthcheck != *'"NONE"'* ]]; then
  has_healthcheck=true
fi

remove_smoke_container
trap 'SMOKE_STATUS=$?; remove_smoke_container; _comfyui_on_exit $SMOKE_STATUS' EXIT
docker "${run_args[@]}" "$IMAGE_URI" >/dev/null || show_logs_and_die "the image did not start"

if [[ $has_healthcheck == true ]]; then
  log "waiting up to ${SMOKE_TIMEOUT}s for the image's HEALTHCHECK to report healthy"
else
  log "the image has no HEALTHCHECK: checking it is still running after ${SMOKE_MIN_UPTIME}s"
fi

state_format=$(go_template '[[.State.Status]] [[if .State.Health]][[.State.Health.Status]][[else]]none[[end]] [[.State.ExitCode]]')
step=$SMOKE_INTERVAL
((step > 0)) || step=1
elapsed=0
while :; do
  state=$(docker inspect --format "$state_format" "$SMOKE_CONTAINER_NAME") \
    || show_logs_and_die "the smoke container disappeared"
  read -r status health exit_code <<<"$state"
  case $status in
    running) ;;
    created | restarting) ;;
    *) show_logs_and_die "the image exited during the smoke check (status $status, exit code $exit_code)" ;;
  esac
  if [[ $has_healthcheck == true ]]; then
    case $health in
      healthy) log "smoke check passed: container healthy after ${elapsed}s"; break ;;
      unhealthy) show_logs_and_die "the image's HEALTHCHECK reports unhealthy" ;;
    esac
  elif [[ $status == running ]] && ((elapsed >= SMOKE_MIN_UPTIME)); then
    log "smoke check passed: container still running after ${elapsed}s"
    break
  fi
  if ((elapsed >= SMOKE_TIMEOUT)); then
    show_logs_and_die "the image was not healthy within ${SMOKE_TIMEOUT}s (status $status, health $health)"
  fi
  sleep "$SMOKE_INTERVAL"
  elapsed=$((elapsed + step))
done
