#!/bin/bash
# Turns a fresh Ubuntu 22.04 instance into a ComfyUI host: Docker, the Amazon ECR credential
# helper, for GPU environments the NVIDIA driver and container toolkit, and comfyui.service.
# The image itself is pulled, checked and switched in by update.sh.
#
# Parameters (environment): SSM_ImageUri, SSM_Gpu, SSM_ContainerPort, SSM_NvidiaDriverBranch.
set -euo pipefail

SCRIPT_DIR=${BASH_SOURCE[0]%/*}
[[ $SCRIPT_DIR != "${BASH_SOURCE[0]}" ]] || SCRIPT_DIR=.
COMFYUI_STEP=fresh-install
# shellcheck source=lib.sh
source "$SCRIPT_DIR/lib.sh"

load_image_params
load_driver_params

NVIDIA_KEYRING=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg
NVIDIA_REPO_URL=https://nvidia.github.io/libnvidia-container

wait_for_cloud_init() {
  command -v cloud-init >/dev/null 2>&1 || return 0
  log "waiting for cloud-init to finish"
  local status=0
  timeout "${COMFYUI_CLOUD_INIT_TIMEOUT:-900}" cloud-init status --wait >/dev/null || status=$?
  # 2 means "done with recoverable errors", which does not concern this build.
  if ((status != 0 && status != 2)); then
    warn "cloud-init status --wait returned $status; continuing"
  fi
}

install_base_packages() {
  # Stop (not disable) the apt timers so they do not take the lock mid-build; they run again
  # on the hosts launched from the AMI.
  systemctl stop apt-daily.timer apt-daily-upgrade.timer || true
  wait_for_apt_locks || die "the dpkg lock is still held after ${APT_LOCK_TIMEOUT}s"
  dpkg --configure -a || die "dpkg --configure -a failed: an earlier package install was interrupted"
  apt_update
  log "upgrading installed packages"
  retry 3 "apt-get upgrade" apt_get upgrade || die "apt-get upgrade failed"
  apt_install ca-certificates curl gnupg docker.io amazon-ecr-credential-helper
  systemctl enable docker.service
  systemctl start docker.service
  command -v docker-credential-ecr-login >/dev/null 2>&1 \
    || die "docker-credential-ecr-login is missing after installing amazon-ecr-credential-helper"
}

# Installs the NVIDIA server driver branch through ubuntu-drivers, which picks the signed,
# prebuilt kernel modules for the running kernel flavour. It also works on a builder without
# a GPU; if no module package got installed, fall back to DKMS.
install_nvidia_driver() {
  local branch=$NVIDIA_DRIVER_BRANCH
  log "installing the NVIDIA $branch-server driver"
  apt_install ubuntu-drivers-common
  retry 3 "ubuntu-drivers install" ubuntu-drivers --gpgpu install "nvidia:$branch-server" \
    || die "ubuntu-drivers --gpgpu install nvidia:$branch-server failed"
  apt_install "nvidia-utils-$branch-server"
  # Modules for the running kernel as well, so a GPU builder can load them before a reboot.
  local kernel
  kernel=$(uname -r)
  apt_get install --no-install-recommends "linux-modules-nvidia-$branch-server-$kernel" \
    || warn "no prebuilt NVIDIA $branch-server modules for the running kernel $kernel"
  # dpkg-query exits 1 when a pattern matches no package, so read its output only.
  local packages
  # shellcheck disable=SC2016 # ${Package} is a dpkg-query field, not a shell expansion
  packages=$(dpkg-query -W -f='${Package} ${Status}\n' "linux-modules-nvidia-$branch-server-*" "nvidia-dkms-$branch-server" 2>/dev/null || true)
  if ! grep -q ' install ok installed$' <<<"$packages"; then
    warn "no NVIDIA kernel module package was installed; installing nvidia-dkms-$branch-server"
    apt_install "linux-headers-$kernel" "nvidia-dkms-$branch-server" "nvidia-headless-no-dkms-$branch-server"
  fi
  # Load the module now when this builder has a GPU, so the smoke check can use it.
  modprobe nvidia >/dev/null 2>&1 || log "nvidia module not loaded now (no GPU on this builder, or a reboot is needed)"
}

install_nvidia_container_toolkit() {
  local arch tmp
  arch=$(dpkg --print-architecture)
  [[ $arch =~ ^[a-z0-9]+$ ]] || die "unexpected dpkg architecture $(printable "$arch")"
  tmp=$(mktemp)
  retry 5 "download of the NVIDIA repository key" curl -fsSL --retry 3 -o "$tmp" "$NVIDIA_REPO_URL/gpgkey" \
    || die "cannot download $NVIDIA_REPO_URL/gpgkey"
  mkdir -p "$R/usr/share/keyrings"
  gpg --batch --yes --dearmor -o "$R$NVIDIA_KEYRING" "$tmp" || die "cannot convert the NVIDIA repository key"
  rm -f "$tmp"
  printf 'deb [signed-by=%s] %s/stable/deb/%s /\n' "$NVIDIA_KEYRING" "$NVIDIA_REPO_URL" "$arch" \
    | atomic_write "$R/etc/apt/sources.list.d/nvidia-container-toolkit.list" 0644
  apt_update
  apt_install nvidia-container-toolkit
  mkdir -p "$R/etc/docker"
  nvidia-ctk runtime configure --runtime=docker --config="$R/etc/docker/daemon.json" \
    || die "nvidia-ctk runtime configure --runtime=docker failed"
  systemctl restart docker.service
}

install_unit() {
  mkdir -p "$COMFYUI_ETC" "$SBIN_DIR" "$UNIT_DIR" "$R$HOST_DATA_DIR"
  chmod 0755 "$COMFYUI_ETC"
  if [[ ! -e $CONTAINER_ENV_FILE ]]; then
    printf '# Environment for the ComfyUI container (docker --env-file format).\n' \
      | atomic_write "$CONTAINER_ENV_FILE" 0600
  fi
  atomic_write "$SBIN_DIR/comfyui-run" 0755 <"$SCRIPT_DIR/comfyui-run.sh"
  atomic_write "$UNIT_DIR/$UNIT_NAME" 0644 <<'UNIT'
[Unit]
Description=ComfyUI container (image and settings in /etc/comfyui/image.env)
Wants=network-online.target
After=network-online.target docker.service
Requires=docker.service
ConditionPathExists=/etc/comfyui/image.env
StartLimitIntervalSec=0

[Service]
Type=simple
Environment=HOME=/root
EnvironmentFile=/etc/comfyui/image.env
ExecStartPre=-/usr/bin/docker rm -f comfyui
ExecStart=/usr/local/sbin/comfyui-run
ExecStop=/usr/bin/docker stop --time 30 comfyui
Restart=on-failure
RestartSec=10
TimeoutStartSec=300

[Install]
WantedBy=multi-user.target
UNIT
  systemctl daemon-reload
  systemctl enable "$UNIT_NAME"
  log "installed $UNIT_NAME (starts at boot from /etc/comfyui/image.env)"
}

log "fresh install for a $([[ $GPU == true ]] && echo GPU || echo CPU-only) environment"
hold_snap_refreshes
wait_for_cloud_init
install_base_packages
if [[ $GPU == true ]]; then
  install_nvidia_driver
  install_nvidia_container_toolkit
else
  log "CPU-only environment: no NVIDIA driver or container toolkit"
fi
install_unit
log "fresh install done"
