#!/bin/bash
# shellcheck disable=SC2034 # globals used by the scripts that source this file
# Shared functions for the ComfyUI AMI builder scripts. Sourced, never run.
#
# Two rules keep this text safe to embed in an SSM document that Serverless packages:
# no double opening brace anywhere (SSM and CloudFormation would read it as a parameter
# or dynamic reference), and no expansion of a lowercase variable followed by a colon or
# a parenthesis (Serverless would read it as a variable). builder/documents.cjs refuses
# script text that breaks either rule.

set -o errtrace

# The running script's name without .sh (fresh-install, update, ...): the tag of its log lines.
COMFYUI_STEP=${0##*/}
COMFYUI_STEP=${COMFYUI_STEP%.sh}
# The folder the document writes all scripts to; lib.sh sits there with them.
SCRIPT_DIR=$(dirname "${BASH_SOURCE[0]}")

# Every path a script writes lives under COMFYUI_ROOT, so tests can point it at a temp dir.
R="${COMFYUI_ROOT:-/}"
R="${R%/}"
if [[ -n $R && $R != /* ]]; then
  printf 'ERROR [%s]: COMFYUI_ROOT must be an absolute path\n' "$COMFYUI_STEP" >&2
  exit 2
fi

COMFYUI_ETC="$R/etc/comfyui"
IMAGE_ENV_FILE="$COMFYUI_ETC/image.env"
CONTAINER_ENV_FILE="$COMFYUI_ETC/comfyui.env"
UNIT_DIR="$R/etc/systemd/system"
SBIN_DIR="$R/usr/local/sbin"
DOCKER_CONFIG_DIR="$R/root/.docker"
UNIT_NAME=comfyui.service
CONTAINER_NAME=comfyui
SMOKE_CONTAINER_NAME=comfyui-ami-smoke
# Paths as the booted host sees them (written into files the host reads).
HOST_CONTAINER_ENV_FILE=/etc/comfyui/comfyui.env
HOST_DATA_DIR=/var/lib/comfyui
# Build state that must survive the reboot in the middle of a fresh build; finalize removes it.
BUILD_STATE_DIR="$R/var/lib/comfyui-ami"
# Exit status that makes the SSM agent reboot the instance and then run the whole document
# again from its first line (Run Command, "Handling reboots when running commands").
SSM_REBOOT_STATUS=194
# ENV_VAR parameter interpolation needs this agent version or later.
SSM_AGENT_MIN_VERSION=3.3.2746.0
# Packages that must change only with a new AMI: a host upgrading them under running GPU
# containers breaks them (driver/library mismatch, a restarted Docker daemon).
PINNED_PACKAGE_PATTERNS=('nvidia-' 'libnvidia-' 'linux-' 'docker.io' 'containerd' 'runc')

export DOCKER_CONFIG="$DOCKER_CONFIG_DIR"
export DEBIAN_FRONTEND=noninteractive
export NEEDRESTART_SUSPEND=1
export HOME="${HOME:-/root}"
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin:/snap/bin"

RETRY_DELAY="${COMFYUI_RETRY_DELAY:-10}"

# The form the pipeline sends; builder/documents.cjs exports the same check, narrowed to the
# configured repositories, as COMFYUI_IMAGE_URI_PATTERN.
DEFAULT_IMAGE_URI_PATTERN='^[0-9]{12}\.dkr\.ecr\.[a-z]{2}(-[a-z]+){1,3}-[0-9]{1,2}\.amazonaws\.com/[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*@sha256:[0-9a-f]{64}$'
IMAGE_URI_PATTERN="${COMFYUI_IMAGE_URI_PATTERN:-$DEFAULT_IMAGE_URI_PATTERN}"

# ---------------------------------------------------------------------------- output

log() { printf '%(%Y-%m-%dT%H:%M:%S%z)T [%s] %s\n' -1 "$COMFYUI_STEP" "$*"; }
warn() { printf '%(%Y-%m-%dT%H:%M:%S%z)T [%s] WARNING: %s\n' -1 "$COMFYUI_STEP" "$*" >&2; }

# The last line on stderr is what the pipeline shows as the failure cause: keep it short.
die() {
  COMFYUI_DIED=1
  printf 'ERROR [%s]: %s\n' "$COMFYUI_STEP" "$*" >&2
  exit 1
}

_comfyui_on_err() {
  if [[ -z ${COMFYUI_ERR_LINE:-} ]]; then
    COMFYUI_ERR_STATUS=$1
    COMFYUI_ERR_LINE="${3##*/}:$2"
    COMFYUI_ERR_CMD=$4
  fi
}

_comfyui_on_exit() {
  local status=$1
  ((status == 0)) && return 0
  [[ -n ${COMFYUI_DIED:-} ]] && return 0
  [[ -n ${COMFYUI_REBOOTING:-} ]] && return 0
  if [[ -n ${COMFYUI_ERR_LINE:-} ]]; then
    printf 'ERROR [%s]: command failed (exit %s) at %s: %.160s\n' \
      "$COMFYUI_STEP" "$COMFYUI_ERR_STATUS" "$COMFYUI_ERR_LINE" "$COMFYUI_ERR_CMD" >&2
  else
    printf 'ERROR [%s]: failed (exit %s)\n' "$COMFYUI_STEP" "$status" >&2
  fi
}

trap '_comfyui_on_err $? $LINENO "${BASH_SOURCE[0]}" "$BASH_COMMAND"' ERR
trap '_comfyui_on_exit $?' EXIT

# A value quoted for a log line, cut to a readable length.
printable() {
  local quoted
  quoted=${1@Q}
  if ((${#quoted} > 200)); then
    printf '%.200s...' "$quoted"
  else
    printf '%s' "$quoted"
  fi
}

# Docker Go templates need double braces, which must not appear in this text (see above):
# go_template '[[.Id]]' prints the template with [[ ]] turned into braces.
go_template() {
  local o='{' c='}' s=$1
  s=${s//'[['/"$o$o"}
  s=${s//']]'/"$c$c"}
  printf '%s' "$s"
}

# ---------------------------------------------------------------------------- parameters

# SSM passes the document parameters as SSM_<Name> environment variables (interpolationType
# ENV_VAR), never as shell text. Validate them with bash alone, before any command runs.
load_image_params() {
  if [[ -z ${SSM_ImageUri+set} ]]; then
    die "SSM_ImageUri is not set: the document needs SSM Agent 3.3.2746.0 or later (interpolationType ENV_VAR)"
  fi
  local uri=$SSM_ImageUri
  if ((${#uri} > 400)) || ! [[ $uri =~ $IMAGE_URI_PATTERN ]]; then
    die "ImageUri $(printable "$uri") is not <account>.dkr.ecr.<region>.amazonaws.com/<allowed repository>@sha256:<64 hex>"
  fi
  IMAGE_URI=$uri
  IMAGE_REGISTRY=${uri%%/*}
  local rest=${uri#*/}
  IMAGE_REPOSITORY=${rest%@*}
  IMAGE_DIGEST=${uri##*@}

  local gpu=${SSM_Gpu-true}
  [[ $gpu == true || $gpu == false ]] || die "Gpu $(printable "$gpu") must be true or false"
  GPU=$gpu

  local port=${SSM_ContainerPort-8188}
  if ! [[ $port =~ ^[1-9][0-9]{0,4}$ ]] || ((10#$port > 65535)); then
    die "ContainerPort $(printable "$port") must be a number from 1 to 65535"
  fi
  CONTAINER_PORT=$port
}

load_driver_params() {
  local branch=${SSM_NvidiaDriverBranch-580}
  [[ $branch =~ ^[0-9]{3,4}$ ]] || die "NvidiaDriverBranch $(printable "$branch") must be a driver branch such as 580"
  NVIDIA_DRIVER_BRANCH=$branch
}

# ---------------------------------------------------------------------------- host checks

# version_at_least <have> <want>: dotted numeric versions.
version_at_least() {
  local IFS=. i
  local -a have want
  read -r -a have <<<"$1"
  read -r -a want <<<"$2"
  for ((i = 0; i < ${#want[@]}; i++)); do
    local h=${have[i]:-0} w=${want[i]}
    [[ $h =~ ^[0-9]+$ ]] || return 1
    ((10#$h > 10#$w)) && return 0
    ((10#$h < 10#$w)) && return 1
  done
  return 0
}

# Older agents do not export the parameters (interpolationType ENV_VAR) and would run the
# scripts without them: name the version instead of failing somewhere later.
check_ssm_agent_version() {
  local out version agent=amazon-ssm-agent
  # The snap does not put the agent's own binary on PATH.
  command -v "$agent" >/dev/null 2>&1 || agent="$R/snap/amazon-ssm-agent/current/amazon-ssm-agent"
  if ! out=$("$agent" --version 2>/dev/null); then
    warn "cannot read the SSM agent version ($agent --version failed)"
    return 0
  fi
  [[ $out =~ [0-9]+(\.[0-9]+){2,3} ]] || die "cannot read the SSM agent version from $(printable "$out")"
  version=${BASH_REMATCH[0]}
  version_at_least "$version" "$SSM_AGENT_MIN_VERSION" \
    || die "SSM agent $version is older than $SSM_AGENT_MIN_VERSION, which the documents need (interpolationType ENV_VAR): use a base image with a newer agent"
  log "SSM agent $version"
}

# The apt timers start unattended-upgrades, which takes the dpkg lock and upgrades packages
# mid-build. Stopped, not disabled: they run again on the hosts launched from the AMI. A
# reboot starts them again, so every run of every document stops them first.
stop_apt_timers() {
  systemctl stop apt-daily.timer apt-daily-upgrade.timer || warn "could not stop the apt timers"
}

# ---------------------------------------------------------------------------- helpers

# retry <attempts> <description> <command...>: the command must return non-zero on failure
# (set -e does not apply inside it). The delay doubles after each failure.
retry() {
  local attempts=$1 what=$2 n=1 delay=$RETRY_DELAY
  shift 2
  until "$@"; do
    if ((n >= attempts)); then
      warn "$what failed after $n attempts"
      return 1
    fi
    warn "$what failed (attempt $n of $attempts); retrying in ${delay}s"
    sleep "$delay"
    n=$((n + 1))
    delay=$((delay * 2))
  done
}

# atomic_write <file> <mode>: stdin to a temp file beside <file>, then rename over it.
atomic_write() {
  local dest=$1 mode=$2 tmp
  mkdir -p "$(dirname "$dest")"
  tmp=$(mktemp "$dest.tmp.XXXXXX")
  if ! cat >"$tmp" || ! chmod "$mode" "$tmp" || ! mv -f "$tmp" "$dest"; then
    rm -f "$tmp"
    return 1
  fi
}

# ---------------------------------------------------------------------------- apt

APT_LOCK_FILES=(/var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock /var/cache/apt/archives/lock)
APT_LOCK_TIMEOUT="${COMFYUI_APT_LOCK_TIMEOUT:-900}"
APT_LOCK_INTERVAL="${COMFYUI_APT_LOCK_INTERVAL:-5}"
APT_OPTIONS=(-y -q
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold
  -o "DPkg::Lock::Timeout=$APT_LOCK_TIMEOUT" -o Acquire::Retries=3)

# cloud-init and unattended-upgrades hold the dpkg lock on first boot.
wait_for_apt_locks() {
  command -v fuser >/dev/null 2>&1 || return 0
  local waited=0 step=$APT_LOCK_INTERVAL
  ((step > 0)) || step=1
  while fuser "${APT_LOCK_FILES[@]}" >/dev/null 2>&1; do
    if ((waited >= APT_LOCK_TIMEOUT)); then
      warn "the dpkg/apt lock is still held after ${APT_LOCK_TIMEOUT}s"
      return 1
    fi
    ((waited > 0)) || log "waiting for the dpkg/apt lock (cloud-init or unattended-upgrades)"
    sleep "$APT_LOCK_INTERVAL"
    waited=$((waited + step))
  done
}

apt_get() {
  wait_for_apt_locks || return 1
  apt-get "${APT_OPTIONS[@]}" "$@"
}

apt_update() {
  retry 5 "apt-get update" apt_get update || die "apt-get update failed: the package mirrors are unreachable"
}

# Retries transient mirror errors, refreshing the package lists between attempts.
apt_install() {
  local n=1 delay=$RETRY_DELAY
  log "installing: $*"
  until apt_get install --no-install-recommends "$@"; do
    ((n < 5)) || die "apt-get install $* failed after $n attempts"
    warn "apt-get install failed (attempt $n of 5); refreshing package lists in ${delay}s"
    sleep "$delay"
    apt_get update || true
    n=$((n + 1))
    delay=$((delay * 2))
  done
}

# ---------------------------------------------------------------------------- snap

# The SSM agent is a snap: a refresh during the build restarts it and kills this command.
# The hold is timed and finalize leaves it in place, so snapd cannot refresh (restart) the
# agent before the image is taken; it expires by itself COMFYUI_SNAP_HOLD after the build.
hold_snap_refreshes() {
  if ! command -v snap >/dev/null 2>&1; then
    log "snap is not installed: no refreshes to hold"
    return 0
  fi
  # On a first boot snapd may still be seeding, and refuses to change refreshes until done.
  timeout "${COMFYUI_SNAP_SEED_TIMEOUT:-600}" snap wait system seed.loaded >/dev/null 2>&1 \
    || warn "snapd has not finished seeding; holding refreshes anyway"
  local duration="${COMFYUI_SNAP_HOLD:-6h}"
  if retry 3 "snap refresh --hold" snap refresh --hold="$duration"; then
    log "snap refreshes held for $duration"
    return 0
  fi
  # snapd older than 2.58 has no --hold; refresh.hold takes an RFC 3339 time.
  local until
  until=$(date -u -d '+6 hours' '+%Y-%m-%dT%H:%M:%SZ') || die "cannot compute the snap hold time"
  snap set system refresh.hold="$until" || die "cannot hold snap refreshes (snap refresh --hold and refresh.hold both failed)"
  log "snap refreshes held until $until (refresh.hold)"
}

# ---------------------------------------------------------------------------- docker

# Prints the Id of a local image, empty if absent.
local_image_id() {
  docker image inspect --format "$(go_template '[[.Id]]')" "$1" 2>/dev/null || true
}
