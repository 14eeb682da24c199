#!/bin/bash
# Turns a fresh Ubuntu 22.04 instance into a ComfyUI host: Docker, the Amazon ECR credential
# helper, for GPU environments the NVIDIA driver and container toolkit, comfyui.service and
# its HTTP health check. The image itself is pulled, checked and switched in by update.sh.
#
# Runs twice: the first run installs everything, pins it, and asks the SSM agent to reboot
# (exit 194); the agent then runs the whole document again, and the second run checks that
# the host booted the kernel the driver was installed for and that the GPU works.
#
# Parameters (environment): SSM_ImageUri, SSM_Gpu, SSM_ContainerPort, SSM_NvidiaDriverBranch.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

load_image_params
load_driver_params

NVIDIA_KEYRING=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg
NVIDIA_REPO_URL=https://nvidia.github.io/libnvidia-container
# Primary key of "NVIDIA CORPORATION (Open Source Projects) <cudatools@nvidia.com>", the key
# served at $NVIDIA_REPO_URL/gpgkey; its long id DDCAE044F796ECB0 is the one apt names when
# the key is missing (NVIDIA/nvidia-container-toolkit issues 81 and 650 show the fingerprint).
NVIDIA_KEY_FINGERPRINT=C95B321B61E88C1809C4F759DDCAE044F796ECB0
REBOOT_REQUESTED="$BUILD_STATE_DIR/reboot-requested"
TARGET_KERNEL_FILE="$BUILD_STATE_DIR/target-kernel"
UNATTENDED_PIN_FILE="$R/etc/apt/apt.conf.d/51comfyui-ami-pinned"
DEV_CHAR_RULE="$R/etc/udev/rules.d/71-nvidia-dev-char.rules"
HEALTH_UNIT=comfyui-health.service
HEALTH_TIMER=comfyui-health.timer

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

# The newest installed kernel is the one GRUB boots next.
newest_kernel() {
  local file newest=''
  while read -r file; do
    [[ -n $file ]] && newest=${file#vmlinuz-}
  done <<<"$(find "$R/boot" -maxdepth 1 -name 'vmlinuz-*' -printf '%f\n' 2>/dev/null | sort -V)"
  [[ -n $newest ]] || die "no kernel found in /boot after the upgrade"
  printf '%s' "$newest"
}

# Docker decompresses layers with unpigz when it is installed (docker.io only recommends
# pigz) and pulls more layers at once than its default of 3.
install_base_packages() {
  wait_for_apt_locks || die "the dpkg lock is still held after ${APT_LOCK_TIMEOUT}s"
  dpkg --configure -a || die "dpkg --configure -a failed: an earlier package install was interrupted"
  apt_update
  # dist-upgrade, not upgrade: upgrade holds back a new kernel, and the build must run (and
  # install the driver for) the kernel the image will boot.
  log "upgrading installed packages, the kernel included"
  retry 3 "apt-get dist-upgrade" apt_get dist-upgrade || die "apt-get dist-upgrade failed"
  apt_install ca-certificates curl gnupg docker.io pigz amazon-ecr-credential-helper
  printf '{\n  "max-concurrent-downloads": %s\n}\n' "${COMFYUI_DOCKER_CONCURRENT_DOWNLOADS:-8}" \
    | atomic_write "$R/etc/docker/daemon.json" 0644
  systemctl enable docker.service
  systemctl restart docker.service
  command -v docker-credential-ecr-login >/dev/null 2>&1 \
    || die "docker-credential-ecr-login is missing after installing amazon-ecr-credential-helper"
}

# require_installed <package...>: dpkg must report each one installed ("ii"); apt-get (and
# ubuntu-drivers) can exit 0 without installing what was asked for.
require_installed() {
  local out line missing=() pkg
  # shellcheck disable=SC2016 # ${Package} and ${Status} are dpkg-query fields
  out=$(dpkg-query -W -f='${Package} ${Status}\n' "$@" 2>/dev/null || true)
  for pkg in "$@"; do
    local found=false
    while read -r line; do
      [[ $line == "$pkg install ok installed" ]] && found=true
    done <<<"$out"
    [[ $found == true ]] || missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) || die "not installed after apt-get install: ${missing[*]}"
}

# The NVIDIA server driver, as named packages: Ubuntu's signed prebuilt modules for the
# kernel that will boot (DKMS when that kernel has none), the userspace without DKMS, and
# nvidia-smi. Then the module on disk for that kernel must be of the requested branch.
install_nvidia_driver() {
  local kernel=$1 branch=$NVIDIA_DRIVER_BRANCH
  local modules="linux-modules-nvidia-$branch-server-$kernel"
  local packages=("nvidia-headless-no-dkms-$branch-server" "nvidia-utils-$branch-server")
  if apt-cache show "$modules" >/dev/null 2>&1; then
    packages=("$modules" "${packages[@]}")
  else
    warn "no prebuilt $modules: building the module with DKMS"
    packages=("linux-headers-$kernel" "nvidia-dkms-$branch-server" "${packages[@]}")
  fi
  log "installing the NVIDIA $branch-server driver for kernel $kernel"
  apt_install "${packages[@]}"
  require_installed "${packages[@]}"
  local version
  version=$(modinfo -k "$kernel" -F version nvidia 2>/dev/null) \
    || die "no nvidia kernel module for kernel $kernel after installing ${packages[*]}"
  [[ $version == "$branch".* ]] \
    || die "the nvidia module for $kernel is version $version, not branch $branch (the $branch-server packages may be transitional: set the driver branch to ${version%%.*})"
  log "NVIDIA driver $version installed for kernel $kernel"
}

# Fails unless the downloaded key is exactly NVIDIA's repository key.
verify_nvidia_key() {
  local file=$1 line pubs=0 primary='' next_is_primary=false
  while IFS= read -r line; do
    case $line in
      pub:*) pubs=$((pubs + 1)); next_is_primary=true ;;
      fpr:*)
        if [[ $next_is_primary == true ]]; then
          primary=${line#fpr:::::::::}
          primary=${primary%%:*}
          next_is_primary=false
        fi
        ;;
    esac
  done <<<"$(gpg --batch --show-keys --with-colons "$file" 2>/dev/null || true)"
  if ((pubs != 1)) || [[ $primary != "$NVIDIA_KEY_FINGERPRINT" ]]; then
    die "the key at $NVIDIA_REPO_URL/gpgkey is not NVIDIA's repository key $NVIDIA_KEY_FINGERPRINT (got ${pubs} key(s), primary $(printable "$primary"))"
  fi
}

install_nvidia_container_toolkit() {
  local arch tmp
  arch=$(dpkg --print-architecture)
  [[ $arch =~ ^[a-z0-9]+$ ]] || die "unexpected dpkg architecture $(printable "$arch")"
  tmp=$(mktemp)
  retry 5 "download of the NVIDIA repository key" curl -fsSL --retry 3 -o "$tmp" "$NVIDIA_REPO_URL/gpgkey" \
    || die "cannot download $NVIDIA_REPO_URL/gpgkey"
  verify_nvidia_key "$tmp"
  mkdir -p "$R/usr/share/keyrings"
  gpg --batch --yes --dearmor -o "$R$NVIDIA_KEYRING" "$tmp" || die "cannot convert the NVIDIA repository key"
  rm -f "$tmp"
  printf 'deb [signed-by=%s] %s/stable/deb/%s /\n' "$NVIDIA_KEYRING" "$NVIDIA_REPO_URL" "$arch" \
    | atomic_write "$R/etc/apt/sources.list.d/nvidia-container-toolkit.list" 0644
  apt_update
  apt_install nvidia-container-toolkit
  require_installed nvidia-container-toolkit
  nvidia-ctk runtime configure --runtime=docker --config="$R/etc/docker/daemon.json" \
    || die "nvidia-ctk runtime configure --runtime=docker failed"
  # runc needs /dev/char links to the NVIDIA device nodes, or a systemctl daemon-reload
  # takes the GPU away from running containers ("Failed to initialize NVML: Unknown
  # Error"). NVIDIA's fix (NVIDIA/nvidia-docker issue 1730): create them whenever the driver
  # binds, with this udev rule.
  printf '%s\n' 'ACTION=="add", DEVPATH=="/bus/pci/drivers/nvidia", RUN+="/usr/bin/nvidia-ctk system create-dev-char-symlinks --create-all"' \
    | atomic_write "$DEV_CHAR_RULE" 0644
  systemctl restart docker.service
}

# Holds the kernel, the NVIDIA stack, Docker, containerd and runc for the host's life, and
# tells unattended-upgrades (which still installs the other security updates) to leave them.
pin_packages() {
  local installed name="" pattern hold=()
  # shellcheck disable=SC2016 # ${Package} and ${Status} are dpkg-query fields
  installed=$(dpkg-query -W -f='${Package} ${Status}\n' 2>/dev/null || true)
  while read -r name _; do
    [[ -n $name ]] || continue
    for pattern in "${PINNED_PACKAGE_PATTERNS[@]}"; do
      if [[ $name == "$pattern"* ]]; then
        hold+=("$name")
        break
      fi
    done
  done <<<"$(grep ' install ok installed$' <<<"$installed" || true)"
  if ((${#hold[@]} > 0)); then
    apt-mark hold "${hold[@]}" >/dev/null || die "apt-mark hold failed"
  fi
  {
    printf '// Written by the ComfyUI AMI build: these change only with a new AMI.\n'
    printf 'Unattended-Upgrade::Package-Blacklist {\n'
    for pattern in "${PINNED_PACKAGE_PATTERNS[@]}"; do
      printf '    "^%s";\n' "$pattern"
    done
    printf '};\n'
  } | atomic_write "$UNATTENDED_PIN_FILE" 0644
  log "held ${#hold[@]} package(s) (kernel, NVIDIA, Docker, containerd, runc); unattended-upgrades leaves them"
}

install_unit() {
  mkdir -p "$COMFYUI_ETC" "$SBIN_DIR" "$UNIT_DIR" "$R$HOST_DATA_DIR"
  chmod 0755 "$COMFYUI_ETC"
  if [[ ! -e $CONTAINER_ENV_FILE ]]; then
    printf '# Environment for the ComfyUI container (docker --env-file format).\n' \
      | atomic_write "$CONTAINER_ENV_FILE" 0600
  fi
  atomic_write "$SBIN_DIR/comfyui-run" 0755 <"$SCRIPT_DIR/comfyui-run.sh"
  atomic_write "$SBIN_DIR/comfyui-health" 0755 <"$SCRIPT_DIR/comfyui-health.sh"
  atomic_write "$UNIT_DIR/$UNIT_NAME" 0644 <<'UNIT'
[Unit]
Description=ComfyUI container (image and settings in /etc/comfyui/image.env)
Wants=network-online.target comfyui-health.timer
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
  # The container can keep running without answering (a hung process, a GPU lost to a
  # driver problem): Restart=on-failure never sees that, this check does.
  atomic_write "$UNIT_DIR/$HEALTH_UNIT" 0644 <<'UNIT'
[Unit]
Description=Restart comfyui.service when ComfyUI stops answering on its HTTP port
After=comfyui.service
ConditionPathExists=/etc/comfyui/image.env

[Service]
Type=oneshot
EnvironmentFile=/etc/comfyui/image.env
ExecStart=/usr/local/sbin/comfyui-health
UNIT
  atomic_write "$UNIT_DIR/$HEALTH_TIMER" 0644 <<'UNIT'
[Unit]
Description=Check ComfyUI's HTTP answer every minute

[Timer]
OnBootSec=2min
OnUnitActiveSec=1min
AccuracySec=10s

[Install]
WantedBy=timers.target
UNIT
  systemctl daemon-reload
  systemctl enable "$UNIT_NAME" "$HEALTH_TIMER"
  log "installed $UNIT_NAME and $HEALTH_TIMER (start at boot from /etc/comfyui/image.env)"
}

# First run: install, pin, and ask for the reboot that loads the driver and the new kernel.
install_and_reboot() {
  wait_for_cloud_init
  install_base_packages
  local kernel
  kernel=$(newest_kernel)
  if [[ $GPU == true ]]; then
    install_nvidia_driver "$kernel"
    install_nvidia_container_toolkit
  else
    log "CPU-only environment: no NVIDIA driver or container toolkit"
  fi
  pin_packages
  install_unit
  mkdir -p "$BUILD_STATE_DIR"
  printf '%s\n' "$kernel" | atomic_write "$TARGET_KERNEL_FILE" 0644
  : >"$REBOOT_REQUESTED"
  sync
  log "rebooting into kernel $kernel; the SSM agent runs this document again after the reboot"
  COMFYUI_REBOOTING=1
  exit "$SSM_REBOOT_STATUS"
}

# Second run, after the reboot: never asks for another one.
check_after_reboot() {
  local want running
  want=$(<"$TARGET_KERNEL_FILE") || die "the build state in $BUILD_STATE_DIR is incomplete: run a new build"
  running=$(uname -r)
  [[ $running == "$want" ]] || die "the builder booted kernel $running, not $want that the build installed for"
  log "running kernel $running, as installed"
  systemctl start docker.service
  if [[ $GPU == true ]]; then
    local gpus
    gpus=$(nvidia-smi -L 2>&1) \
      || die "nvidia-smi failed after the reboot ($(printable "${gpus//$'\n'/ }")): the driver did not load, or the builder has no NVIDIA GPU"
    log "GPUs after the reboot: ${gpus//$'\n'/; }"
  fi
}

log "fresh install for a $([[ $GPU == true ]] && echo GPU || echo CPU-only) environment"
check_ssm_agent_version
hold_snap_refreshes
stop_apt_timers
if [[ -f $REBOOT_REQUESTED ]]; then
  check_after_reboot
else
  install_and_reboot
fi
log "fresh install done"
