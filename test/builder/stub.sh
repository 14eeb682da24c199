#!/bin/bash
# Stand-in for a host command in the builder tests (test/builder/harness.ts links it under
# each command's name). Appends "name args..." to $STUB_LOG and answers like the real tool
# where the scripts read its output.
#   STUB_FAIL, STUB_FAIL_ONCE  comma-separated "name" or "name:text": fail when the joined
#                              arguments contain text (once: only the first time)
#   STUB_DOCKER_*, STUB_FUSER, STUB_GPU, STUB_HTTP, STUB_APT_*, ...: see below
# Host state the tools share (installed packages, the running kernel, whether the NVIDIA
# driver is loaded) lives in $STUB_STATE; test/builder/harness.ts models the reboot.
name=${0##*/}
args="$*"
printf '%s\n' "$name${args:+ $args}" >>"$STUB_LOG"

matches() {
  local entry=$1
  [[ ${entry%%:*} == "$name" ]] || return 1
  [[ $entry != *:* ]] && return 0
  [[ $args == *"${entry#*:}"* ]]
}
IFS=',' read -r -a fail_entries <<<"${STUB_FAIL-}"
for entry in "${fail_entries[@]}"; do
  if [[ -n $entry ]] && matches "$entry"; then echo "stub: $name $args failed" >&2; exit 1; fi
done
IFS=',' read -r -a once_entries <<<"${STUB_FAIL_ONCE-}"
for entry in "${once_entries[@]}"; do
  marker="$STUB_STATE/once-$(printf '%s' "$entry" | tr -c 'a-zA-Z0-9' '_')"
  if [[ -n $entry ]] && matches "$entry" && [[ ! -e $marker ]]; then
    : >"$marker"; echo "stub: $name $args failed once" >&2; exit 1
  fi
done

# next_value <key> <comma-separated values>: one value per call, the last one repeats.
next_value() {
  local counter="$STUB_STATE/count-$1" n=0 values
  [[ -f $counter ]] && n=$(<"$counter")
  echo $((n + 1)) >"$counter"
  IFS=',' read -r -a values <<<"$2"
  if ((n >= ${#values[@]})); then n=$((${#values[@]} - 1)); fi
  printf '%s\n' "${values[$n]}"
}

output_file() {
  while (($#)); do
    case $1 in
      -o) printf '%s' "$2"; return ;;
      -o*) printf '%s' "${1#-o}"; return ;;
    esac
    shift
  done
}

installed() { [[ -f $STUB_STATE/installed ]] && grep -Fxq -- "$1" "$STUB_STATE/installed"; }
running_kernel() { if [[ -f $STUB_STATE/kernel ]]; then cat "$STUB_STATE/kernel"; else echo "${STUB_KERNEL:-6.8.0-1015-aws}"; fi; }
# A host of the previous AMI has no driver-state file: its driver was loaded at boot. A fresh
# host has "none" until a reboot into a kernel with the module installed.
gpu_works() {
  [[ -n ${STUB_GPU-} ]] || return 1
  [[ ! -f $STUB_STATE/driver-state || $(<"$STUB_STATE/driver-state") == loaded ]]
}
in_list() { # in_list <word> <comma-separated substrings>
  local item items
  IFS=',' read -r -a items <<<"$2"
  for item in "${items[@]}"; do [[ -n $item && $1 == *"$item"* ]] && return 0; done
  return 1
}

# The image's layers, oldest first, as "<12 hex id>:<compressed bytes>" (STUB_DOCKER_LAYERS).
stub_layers() { printf '%s' "${STUB_DOCKER_LAYERS:-aaaaaaaaaaa1:1000,bbbbbbbbbbb2:20000,ccccccccccc3:300000}"; }
# A 64-hex layer digest that starts with the 12 hex docker prints.
layer_digest() { printf '%s%s' "$1" "$(printf '0%.0s' {1..52})"; }

case $name in
  docker)
    case "$1 $2" in
      "image inspect")
        format=$4 ref=$5
        case $format in
          *RepoDigests*) printf '%s\n' "${STUB_DOCKER_REPO_DIGESTS-$ref}" ;;
          *Healthcheck*) printf '%s\n' "${STUB_DOCKER_HEALTHCHECK:-null}" ;;
          *.Id*) [[ -n ${STUB_DOCKER_NO_IMAGE-} ]] && exit 1; printf '%s\n' "${STUB_DOCKER_IMAGE_ID:-sha256:current}" ;;
        esac
        ;;
      "image ls") for id in ${STUB_DOCKER_IMAGES:-sha256:current}; do echo "$id"; done ;;
      pull*)
        # Non-TTY output of a real pull: no sizes, one line per layer. A layer is "Already exists"
        # while the host holds every layer up to it (Docker looks layers up by chain), else it is
        # fetched and kept in $STUB_STATE/layers, as the daemon keeps it.
        [[ -f $STUB_STATE/layers ]] || tr ',' '\n' <<<"${STUB_DOCKER_HAVE-}" >"$STUB_STATE/layers"
        ref=${*: -1}
        repo=${ref#*/}
        echo "${ref##*@}: Pulling from ${repo%@*}"
        chain=1
        IFS=',' read -r -a layers <<<"$(stub_layers)"
        for layer in "${layers[@]}"; do
          id=${layer%%:*}
          if ((chain)) && grep -Fxq -- "$id" "$STUB_STATE/layers"; then
            echo "$id: Already exists"
            continue
          fi
          chain=0
          printf '%s: Pulling fs layer\n%s: Waiting\n%s: Verifying Checksum\n%s: Download complete\n%s: Pull complete\n' "$id" "$id" "$id" "$id" "$id"
          grep -Fxq -- "$id" "$STUB_STATE/layers" || echo "$id" >>"$STUB_STATE/layers"
        done
        echo "Digest: ${ref##*@}"
        if ((chain)); then echo "Status: Image is up to date for $ref"; else echo "Status: Downloaded newer image for $ref"; fi
        echo "$ref"
        ;;
      "manifest inspect")
        # docker manifest inspect --verbose of a single-platform image: pretty-printed JSON whose
        # layers hold the compressed sizes. STUB_DOCKER_NO_MANIFEST: the registry refuses it.
        [[ -n ${STUB_DOCKER_NO_MANIFEST-} ]] && { echo "no such manifest: ${*: -1}" >&2; exit 1; }
        IFS=',' read -r -a layers <<<"$(stub_layers)"
        ref=${*: -1}
        printf '{\n\t"Ref": "%s",\n\t"Descriptor": {\n\t\t"mediaType": "application/vnd.oci.image.manifest.v1+json",\n\t\t"digest": "%s",\n\t\t"size": 1234\n\t},\n\t"OCIManifest": {\n\t\t"schemaVersion": 2,\n\t\t"layers": [' "$ref" "${ref##*@}"
        sep=''
        for layer in "${layers[@]}"; do
          printf '%s\n\t\t\t{\n\t\t\t\t"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",\n\t\t\t\t"digest": "sha256:%s",\n\t\t\t\t"size": %s\n\t\t\t}' "$sep" "$(layer_digest "${layer%%:*}")" "${layer#*:}"
          sep=','
        done
        printf '\n\t\t]\n\t}\n}\n'
        ;;
      "inspect --format") next_value state "${STUB_DOCKER_STATES:-running none 0}" ;;
      run*)
        if [[ " $* " == *" --gpus all "* ]]; then
          gpu_works || { echo "docker: Error response from daemon: could not select device driver \"\" with capabilities: [[gpu]]." >&2; exit 125; }
          rm -f "$STUB_STATE/reloaded"
        fi
        echo "stubcontainerid"
        ;;
      "exec comfyui-ami-gpu-check")
        gpu_works || { echo "Failed to initialize NVML: Driver/library version mismatch" >&2; exit 9; }
        # runc without the /dev/char links loses the devices on a daemon-reload.
        # On a fresh host the links exist only if the udev rule ran at boot (harness.ts).
        if [[ -f $STUB_STATE/reloaded ]] && { [[ -n ${STUB_NO_DEV_CHAR-} ]] || [[ -f $STUB_STATE/driver-state && ! -f $STUB_STATE/dev-char ]]; }; then
          echo "Failed to initialize NVML: Unknown Error" >&2; exit 255
        fi
        echo "GPU 0: Tesla T4 (UUID: GPU-stub)"
        ;;
      logs*) echo "stub container output" ;;
    esac
    ;;
  apt-get)
    # Records what "install" installs, except packages named in STUB_APT_NOOP: like
    # ubuntu-drivers, which exits 0 whatever apt did, the call then succeeds having
    # installed nothing.
    verb='' pkgs=()
    for arg in "$@"; do
      case $arg in
        -*) ;;
        install | dist-upgrade | upgrade | update | clean) [[ -z $verb ]] && verb=$arg ;;
        *) [[ $verb == install ]] && pkgs+=("$arg") ;;
      esac
    done
    case $verb in
      install)
        for pkg in "${pkgs[@]}"; do
          in_list "$pkg" "${STUB_APT_NOOP-}" || echo "$pkg" >>"$STUB_STATE/installed"
        done
        ;;
      dist-upgrade)
        if [[ -n ${STUB_NEW_KERNEL-} ]]; then
          mkdir -p "$COMFYUI_ROOT/boot"
          : >"$COMFYUI_ROOT/boot/vmlinuz-$STUB_NEW_KERNEL"
        fi
        ;;
    esac
    ;;
  apt-cache)
    [[ $1 == show ]] && in_list "$2" "${STUB_APT_MISSING-}" && { echo "E: No packages found" >&2; exit 100; }
    ;;
  amazon-ssm-agent) [[ $1 == --version ]] && echo "SSM Agent version: ${STUB_SSM_AGENT_VERSION:-3.3.2746.0}" ;;
  dpkg) [[ $1 == --print-architecture ]] && echo amd64 ;;
  dpkg-query)
    # -W -f='${Package} ${Status}\n' [package...]: exits 1 when a package is not known.
    shift 2
    if (($# == 0)); then
      for pkg in ${STUB_BASE_PACKAGES-linux-aws linux-image-6.8.0-1015-aws bash}; do echo "$pkg install ok installed"; done
      [[ -f $STUB_STATE/installed ]] && sort -u "$STUB_STATE/installed" | while read -r pkg; do echo "$pkg install ok installed"; done
      exit 0
    fi
    status=0
    for pkg in "$@"; do
      if installed "$pkg"; then echo "$pkg install ok installed"; else echo "dpkg-query: no packages found matching $pkg" >&2; status=1; fi
    done
    exit $status
    ;;
  modinfo)
    # modinfo -k <kernel> -F version nvidia: a module only where a package put one.
    kernel=$2 version=''
    for branch in 535 550 570 575 580 590; do
      if installed "linux-modules-nvidia-$branch-server-$kernel" || { installed "nvidia-dkms-$branch-server" && installed "linux-headers-$kernel"; }; then
        version="${STUB_DRIVER_VERSION:-$branch.95.05}"
      fi
    done
    [[ -n $version ]] || { echo "modinfo: ERROR: Module nvidia not found." >&2; exit 1; }
    echo "$version"
    ;;
  uname) [[ $1 == -r ]] && running_kernel ;;
  fuser)
    busy=$(next_value fuser "${STUB_FUSER:-free}")
    [[ $busy == busy ]] && exit 0
    exit 1
    ;;
  nvidia-smi)
    gpu_works || { echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver." >&2; exit 9; }
    echo "GPU 0: Tesla T4 (UUID: GPU-stub)"
    ;;
  systemctl)
    case $1 in
      daemon-reload) : >"$STUB_STATE/reloaded" ;;
      show) echo "${STUB_ACTIVE_SINCE_US:-0}" ;; # ActiveEnterTimestampMonotonic: microseconds since boot
    esac
    ;;
  curl)
    if [[ $args == *system_stats* ]]; then
      code=$(next_value http "${STUB_HTTP:-200}")
      printf '%s' "$code"
      [[ $code == 000 ]] && exit 7
      exit 0
    fi
    out=$(output_file "$@")
    [[ -n $out ]] && echo "stub $name output" >"$out"
    ;;
  gpg)
    if [[ $1 == --batch && $2 == --show-keys ]]; then
      printf 'pub:-:4096:1:DDCAE044F796ECB0:1506556800:::-:::scESC::::::23::0:\n'
      printf 'fpr:::::::::%s:\n' "${STUB_GPG_FPR:-C95B321B61E88C1809C4F759DDCAE044F796ECB0}"
      printf 'uid:-::::1506556800::stub::NVIDIA CORPORATION (Open Source Projects) <cudatools@nvidia.com>::::::::::0:\n'
      printf 'sub:e:2048:1:6ED91CA3AC1160CD:1568764800:1623802464:::::s::::::23:\n'
      printf 'fpr:::::::::0000000000000000000000006ED91CA3AC1160CD:\n'
      exit 0
    fi
    out=$(output_file "$@")
    [[ -n $out ]] && echo "stub $name output" >"$out"
    ;;
esac
exit 0
