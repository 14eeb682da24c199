#!/bin/bash
# Last step before the pipeline stops the builder and creates the AMI: stops ComfyUI and
# Docker and removes everything that belongs to this instance rather than to the image, the
# SSM agent's state and command output included, before the stop (a stop need not be a
# clean shutdown). Only the files of the command running this script must stay until it
# ends; a one-shot unit removes them too when the builder shuts down cleanly (seal.sh).
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SEAL_UNIT=comfyui-ami-seal.service

stop_comfyui() {
  systemctl stop "$UNIT_NAME" comfyui-health.timer >/dev/null 2>&1 || true
  if command -v docker >/dev/null 2>&1; then
    docker rm --force "$CONTAINER_NAME" "$SMOKE_CONTAINER_NAME" >/dev/null 2>&1 || true
    docker container prune --force >/dev/null || warn "docker container prune failed"
    # Docker writes a new engine id at start when there is none: one per host.
    systemctl stop docker.service docker.socket >/dev/null 2>&1 || warn "could not stop Docker"
    rm -f "$R/var/lib/docker/engine-id"
  fi
  log "ComfyUI and Docker stopped, Docker engine id removed"
}

# The agent runs this script from its orchestration directory for this command
# (.../document/orchestration/<command id>/...): that one must stay until the command ends.
remove_ssm_agent_state() {
  local base="$R/var/lib/amazon/ssm" current='' dir entry
  if [[ $PWD == */document/orchestration/* ]]; then
    local rest=${PWD#*/document/orchestration/}
    current="${PWD%%/document/orchestration/*}/document/orchestration/${rest%%/*}"
  fi
  for dir in "$base"/*/document; do
    [[ -d $dir ]] || continue
    for entry in "$dir"/orchestration/* "$dir"/state/completed/* "$dir"/state/corrupt/*; do
      [[ -e $entry && $entry != "$current" ]] || continue
      rm -rf "$entry"
    done
  done
  if [[ -d $R/var/log/amazon/ssm ]]; then
    # The agent keeps its log files open: empty them, delete the rotated ones.
    find "$R/var/log/amazon/ssm" -type f ! -name '*.log' -delete
    find "$R/var/log/amazon/ssm" -type f -name '*.log' -exec truncate --size 0 {} +
  fi
  log "SSM agent command output and logs removed (except this command's own, until it ends)"
}

clean_cloud_init() {
  if command -v cloud-init >/dev/null 2>&1; then
    # --machine-id needs cloud-init 23.1 or later.
    if cloud-init clean --logs --machine-id || cloud-init clean --logs; then
      log "cloud-init state cleaned: the next boot runs as a new instance"
      return 0
    fi
    warn "cloud-init clean failed; removing its state directly"
  fi
  if [[ -d $R/var/lib/cloud ]]; then
    find "$R/var/lib/cloud" -mindepth 1 -maxdepth 1 ! -name seed -exec rm -rf {} +
  fi
  rm -f "$R"/var/log/cloud-init*.log
}

clean_identity() {
  # An empty machine-id makes systemd generate a new one on the next boot.
  mkdir -p "$R/etc"
  : >"$R/etc/machine-id"
  if [[ -f $R/var/lib/dbus/machine-id && ! -L $R/var/lib/dbus/machine-id ]]; then
    rm -f "$R/var/lib/dbus/machine-id"
  fi
  # cloud-init generates new host keys and installs the new instance's key pair.
  rm -f "$R"/etc/ssh/ssh_host_*
  rm -f "$R"/root/.ssh/authorized_keys "$R"/home/*/.ssh/authorized_keys
  # Cached ECR tokens of the docker-credential-ecr-login helper.
  rm -rf "$R/root/.ecr"
  # systemd seeds the kernel's random pool from this file: each host must have its own.
  rm -f "$R/var/lib/systemd/random-seed"
  local home
  for home in "$R/root" "$R"/home/*; do
    [[ -d $home ]] || continue
    rm -f "$home/.bash_history" "$home/.lesshst" "$home/.viminfo" "$home/.python_history" "$home/.wget-hsts"
  done
  log "machine-id, SSH host keys, authorized keys, ECR token cache, random seed and shell history removed"
}

clear_logs() {
  if command -v journalctl >/dev/null 2>&1; then
    journalctl --rotate >/dev/null 2>&1 || true
    journalctl --vacuum-time=1s >/dev/null 2>&1 || true
  fi
  local dir="$R/var/log"
  [[ -d $dir ]] || return 0
  find "$dir" -type f \( -name '*.gz' -o -name '*.xz' -o -name '*.old' -o -name '*.[0-9]' \) -delete
  find "$dir" -type f ! -path "$dir/journal/*" -exec truncate --size 0 {} +
  log "logs cleared"
}

install_seal() {
  mkdir -p "$SBIN_DIR" "$UNIT_DIR"
  atomic_write "$SBIN_DIR/comfyui-ami-seal" 0755 <"$SCRIPT_DIR/seal.sh"
  # At shutdown units stop in reverse order: Before= the agent means this stops after it.
  atomic_write "$UNIT_DIR/$SEAL_UNIT" 0644 <<'UNIT'
[Unit]
Description=Remove what is left of the builder's SSM agent state at a clean shutdown
Before=snap.amazon-ssm-agent.amazon-ssm-agent.service amazon-ssm-agent.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/true
ExecStop=/usr/local/sbin/comfyui-ami-seal
TimeoutStopSec=120
UNIT
  systemctl daemon-reload
  systemctl start "$SEAL_UNIT"
  log "the rest of the SSM agent state is removed at a clean shutdown ($SEAL_UNIT)"
}

stop_comfyui
apt_get clean >/dev/null || warn "apt-get clean failed"
clean_cloud_init
clean_identity
clear_logs
remove_ssm_agent_state
install_seal
rm -rf "$BUILD_STATE_DIR"
# The snap refresh hold stays: a refresh now would restart the agent before the image is
# taken. It expires by itself (see hold_snap_refreshes).
sync
log "finalize done: stop the instance and create the image"
