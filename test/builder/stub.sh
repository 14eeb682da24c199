#!/bin/bash
# Stand-in for a host command in the builder tests (test/builder/harness.ts links it under
# each command's name). Appends "name args..." to $STUB_LOG and answers like the real tool
# where the scripts read its output.
#   STUB_FAIL, STUB_FAIL_ONCE  comma-separated "name" or "name:text": fail when the joined
#                              arguments contain text (once: only the first time)
#   STUB_DOCKER_*, STUB_FUSER, STUB_GPU, STUB_DPKG_QUERY: see below
#   STUB_HTTP_CODES            comma-separated codes curl --write-out prints, one per call
#                              (the last repeats); 000 is no answer (curl exits 7)
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
      "inspect --format") next_value state "${STUB_DOCKER_STATES:-running none 0}" ;;
      run*) echo "stubcontainerid" ;;
      logs*) echo "stub container output" ;;
    esac
    ;;
  dpkg) [[ $1 == --print-architecture ]] && echo amd64 ;;
  dpkg-query)
    # Like dpkg-query -W, exits 1 when one of the patterns matches no package.
    printf '%s\n' "${STUB_DPKG_QUERY-linux-modules-nvidia-570-server-aws install ok installed}"
    exit 1
    ;;
  fuser)
    busy=$(next_value fuser "${STUB_FUSER:-free}")
    [[ $busy == busy ]] && exit 0
    exit 1
    ;;
  nvidia-smi) [[ -n ${STUB_GPU-} ]] || exit 9 ;;
  curl | gpg)
    out=$(output_file "$@")
    [[ -n $out ]] && echo "stub $name output" >"$out"
    if [[ $name == curl && $args == *--write-out* ]]; then
      code=$(next_value http "${STUB_HTTP_CODES:-200}")
      printf '%s' "$code"
      [[ $code == 000 ]] && exit 7
    fi
    ;;
esac
exit 0
