#!/bin/bash
# Installed on the host as /usr/local/sbin/comfyui-run; comfyui.service runs it in the
# foreground. systemd loads the settings from /etc/comfyui/image.env:
#   COMFYUI_IMAGE     digest-pinned image reference (rewritten by each update)
#   COMFYUI_PORT      port the container listens on, published on the same host port
#   COMFYUI_GPU       true: the container gets all GPUs
#   COMFYUI_VOLUMES   space-separated /host/path:/container/path[:ro] mounts
#   COMFYUI_ENV_FILE  docker --env-file for the container (optional)
set -euo pipefail

fail() {
  printf 'comfyui-run: %s\n' "$*" >&2
  exit 1
}

image=${COMFYUI_IMAGE-}
port=${COMFYUI_PORT-8188}
gpu=${COMFYUI_GPU-false}
volumes=${COMFYUI_VOLUMES-}
env_file=${COMFYUI_ENV_FILE-}

[[ $image =~ ^[a-z0-9][a-z0-9.-]*(:[0-9]+)?/[a-z0-9._/-]+@sha256:[0-9a-f]{64}$ ]] \
  || fail "COMFYUI_IMAGE must be a digest-pinned image reference, got ${image@Q}"
if ! [[ $port =~ ^[1-9][0-9]{0,4}$ ]] || ((10#$port > 65535)); then
  fail "COMFYUI_PORT must be a number from 1 to 65535, got ${port@Q}"
fi
[[ $gpu == true || $gpu == false ]] || fail "COMFYUI_GPU must be true or false, got ${gpu@Q}"

args=(run --rm --name comfyui --log-driver local --publish "$port:$port")
if [[ $gpu == true ]]; then
  args+=(--gpus all)
fi
read -r -a mounts <<<"$volumes"
for mount in "${mounts[@]}"; do
  [[ $mount =~ ^/[^:]*:/[^:]*(:ro|:rw)?$ ]] || fail "COMFYUI_VOLUMES entry ${mount@Q} is not /host:/container[:ro]"
  args+=(--volume "$mount")
done
if [[ -n $env_file ]]; then
  [[ $env_file == /* && -f $env_file ]] || fail "COMFYUI_ENV_FILE ${env_file@Q} is not an existing absolute path"
  args+=(--env-file "$env_file")
fi

exec docker "${args[@]}" "$image"
