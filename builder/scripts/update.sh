#!/bin/bash
# Puts a new image on a prepared host (the fresh install, or the previous AMI): pulls it by
# digest and checks the digest, runs the smoke check, and only then switches
# /etc/comfyui/image.env to it and removes every other image. The rest of the host's
# configuration is left as it is.
#
# Parameters (environment): SSM_ImageUri, SSM_Gpu, SSM_ContainerPort.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

load_image_params

check_host() {
  command -v docker >/dev/null 2>&1 || die "docker is not installed on this host: run a fresh build"
  command -v docker-credential-ecr-login >/dev/null 2>&1 \
    || die "the Amazon ECR credential helper is not installed on this host: run a fresh build"
  if [[ $GPU == true ]] && ! command -v nvidia-ctk >/dev/null 2>&1; then
    die "the environment wants a GPU but this host has no NVIDIA container toolkit: run a fresh build"
  fi
  systemctl start docker.service
}

# The GPU as a container sees it, with the new image: given by --gpus all, and still there
# after a systemctl daemon-reload (which detaches it when the /dev/char links are missing).
check_gpu_container() {
  [[ $GPU == true ]] || return 0
  local name=comfyui-ami-gpu-check out
  out=$(nvidia-smi -L 2>&1) \
    || die "nvidia-smi fails on this builder ($(printable "${out//$'\n'/ }")): a GPU environment needs a GPU builder with a loaded driver"
  docker rm --force "$name" >/dev/null 2>&1 || true
  docker run --detach --name "$name" --pull never --gpus all --entrypoint sleep "$IMAGE_URI" 600 >/dev/null \
    || die "docker run --gpus all failed: the NVIDIA container runtime cannot give this container the GPU"
  if ! out=$(docker exec "$name" nvidia-smi -L 2>&1); then
    docker rm --force "$name" >/dev/null 2>&1 || true
    die "nvidia-smi fails in a container started with --gpus all ($(printable "${out//$'\n'/ }"))"
  fi
  systemctl daemon-reload
  if ! out=$(docker exec "$name" nvidia-smi -L 2>&1); then
    docker rm --force "$name" >/dev/null 2>&1 || true
    die "the container lost its GPU after systemctl daemon-reload ($(printable "${out//$'\n'/ }")): the /dev/char links of the NVIDIA devices are missing"
  fi
  docker rm --force "$name" >/dev/null 2>&1 || true
  log "GPU check passed: the container sees the GPU, also after systemctl daemon-reload"
}

# Docker asks docker-credential-ecr-login for this registry's credentials (from the instance
# profile), so no host needs the AWS CLI or a stored password.
configure_ecr_login() {
  local file="$DOCKER_CONFIG_DIR/config.json" want
  want=$(printf '{\n  "credHelpers": {\n    "%s": "ecr-login"\n  }\n}' "$IMAGE_REGISTRY")
  if [[ -f $file && "$(<"$file")" == "$want" ]]; then
    return 0
  fi
  mkdir -p "$DOCKER_CONFIG_DIR"
  chmod 0700 "$DOCKER_CONFIG_DIR"
  printf '%s\n' "$want" | atomic_write "$file" 0600
  log "docker uses the ECR credential helper for $IMAGE_REGISTRY"
}

# docker pull fetches only the layers the host lacks. Without a terminal it prints one line per
# layer and no sizes: "<12 hex of the layer digest>: Already exists" for a layer it has (the
# longest prefix of the image's layers the host holds), "...: Download complete" and "...: Pull
# complete" for one it fetched. The output is kept in a file: the step reports what was pulled.
pull_once() {
  docker pull "$IMAGE_URI" >"$1"
}

# The compressed size (what crosses the network) of each pulled layer, from the image manifest
# (docker manifest inspect --verbose: the platform manifests of an index too). Prints the sum;
# fails when the manifest cannot be read or does not list one of the layers.
pulled_layer_bytes() {
  local manifest flat id descriptor total=0
  (($# > 0)) || {
    printf '0'
    return 0
  }
  manifest=$(docker manifest inspect --verbose "$IMAGE_URI" 2>/dev/null) || return 1
  flat=${manifest//[[:space:]]/}
  for id in "$@"; do
    # The innermost object that holds this digest: the layer's descriptor, keys in any order.
    descriptor="\\{[^{}]*\"digest\":\"sha256:${id}[0-9a-f]{52}\"[^{}]*\\}"
    [[ $flat =~ $descriptor ]] || return 1
    [[ ${BASH_REMATCH[0]} =~ \"size\":([0-9]+) ]] || return 1
    total=$((total + BASH_REMATCH[1]))
  done
  printf '%s' "$total"
}

pull_image() {
  log "pulling $IMAGE_URI"
  local output line id present=0 bytes
  local -A fetched=()
  output=$(mktemp)
  if ! retry 3 "docker pull" pull_once "$output"; then
    rm -f "$output"
    die "docker pull $IMAGE_URI failed"
  fi
  while IFS= read -r line; do
    id=${line%%:*}
    [[ $id =~ ^[0-9a-f]{12}$ ]] || continue
    case ${line#*: } in
      'Already exists') present=$((present + 1)) ;;
      'Download complete' | 'Pull complete') fetched[$id]=1 ;;
    esac
  done <"$output"
  rm -f "$output"
  local digests expected="$IMAGE_REGISTRY/$IMAGE_REPOSITORY@$IMAGE_DIGEST"
  digests=$(docker image inspect --format "$(go_template '[[range .RepoDigests]][[println .]][[end]]')" "$IMAGE_URI") \
    || die "cannot inspect the pulled image $IMAGE_URI"
  if ! grep -Fxq -- "$expected" <<<"$digests"; then
    die "pulled image does not have digest $IMAGE_DIGEST (docker reports: $(printable "${digests//$'\n'/ }"))"
  fi
  log "pulled and verified $expected"
  if ! bytes=$(pulled_layer_bytes "${!fetched[@]}"); then
    warn "cannot read the layer sizes from the image manifest; the pulled bytes are not known"
    bytes=unknown
  fi
  # One line the pipeline reads back (functions/check-update-command/pull-report.ts).
  printf 'comfyui-ami-pull: pulled_bytes=%s pulled_layers=%s present_layers=%s\n' "$bytes" "${#fetched[@]}" "$present"
}

# Rewrites the three lines the pipeline owns and keeps every other line, via temp file + mv.
switch_image() {
  local line lines=()
  if [[ -f $IMAGE_ENV_FILE ]]; then
    while IFS= read -r line || [[ -n $line ]]; do
      case $line in
        COMFYUI_IMAGE=* | COMFYUI_PORT=* | COMFYUI_GPU=*) ;;
        *) lines+=("$line") ;;
      esac
    done <"$IMAGE_ENV_FILE"
  else
    lines=(
      "# Read by comfyui.service (systemd EnvironmentFile). Each AMI build rewrites"
      "# COMFYUI_IMAGE, COMFYUI_PORT and COMFYUI_GPU and keeps the other lines."
      "COMFYUI_VOLUMES=$HOST_DATA_DIR:/data"
      "COMFYUI_ENV_FILE=$HOST_CONTAINER_ENV_FILE"
    )
  fi
  {
    printf '%s\n' "${lines[@]}"
    printf 'COMFYUI_IMAGE=%s\nCOMFYUI_PORT=%s\nCOMFYUI_GPU=%s\n' "$IMAGE_URI" "$CONTAINER_PORT" "$GPU"
  } | atomic_write "$IMAGE_ENV_FILE" 0644
  log "comfyui.service now runs $IMAGE_URI"
}

# Layers shared with the current image stay, as Docker only deletes unreferenced layers.
prune_images() {
  local current ids id removed=0
  current=$(local_image_id "$IMAGE_URI")
  [[ -n $current ]] || die "cannot find the id of $IMAGE_URI"
  docker container prune --force >/dev/null || warn "docker container prune failed"
  ids=$(docker image ls --quiet --no-trunc) || die "docker image ls failed"
  while read -r id; do
    [[ -n $id && $id != "$current" ]] || continue
    if docker image rm --force "$id" >/dev/null; then
      removed=$((removed + 1))
    else
      warn "could not remove image $id"
    fi
  done <<<"$(sort -u <<<"$ids")"
  docker image prune --force >/dev/null || warn "docker image prune failed"
  log "removed $removed other image(s); kept $current"
}

check_ssm_agent_version
hold_snap_refreshes
stop_apt_timers
check_host
configure_ecr_login
pull_image
# The old container (on an incremental builder) must not compete with the checks, nor the
# health timer restart it meanwhile.
systemctl stop "$UNIT_NAME" comfyui-health.timer >/dev/null 2>&1 || true
check_gpu_container
bash "$SCRIPT_DIR/smoke-check.sh" || die "smoke check failed: image.env still names the previous image"
switch_image
prune_images
log "update done"
