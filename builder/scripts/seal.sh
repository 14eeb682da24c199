#!/bin/bash
# Installed by finalize.sh as /usr/local/sbin/comfyui-ami-seal and run once, by
# comfyui-ami-seal.service, when the builder shuts down for imaging and the SSM agent has
# stopped. Removes the agent's registration and state, so each host launched from the AMI
# registers anew, then removes itself.
set -euo pipefail

R="${COMFYUI_ROOT:-/}"
R="${R%/}"

for dir in "$R/var/lib/amazon/ssm" "$R/var/log/amazon/ssm" "$R/var/log/journal"; do
  if [[ -d $dir ]]; then
    find "$dir" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
  fi
done
if [[ -e $R/etc/machine-id ]]; then
  : >"$R/etc/machine-id"
fi
rm -f "$R/etc/systemd/system/comfyui-ami-seal.service" "$R/usr/local/sbin/comfyui-ami-seal"
sync
