#!/usr/bin/env bash
# CI: runs a command with the credentials an installed unit gives its service,
# read from the unit file, for machines where systemd is not PID 1:
# DynamicUser= (a free uid/gid) and SupplementaryGroups=, CapabilityBoundingSet=,
# NoNewPrivileges=, UMask=, LimitMEMLOCK=. The rest of the sandbox (namespaces,
# the system call filter, device policy) needs systemd itself; the unit tests
# check it with systemd-analyze.
#   unit-exec.sh /lib/systemd/system/NAME.service COMMAND [ARGS...]
set -euo pipefail
unit=$1
shift
value() { sed -n "s/^$1=//p" "$unit" | tail -n 1; }

args=(--inh-caps=-all)
caps=$(value CapabilityBoundingSet)
bounding=-all
for c in $caps; do bounding+=",+$(tr 'A-Z' 'a-z' <<<"${c#CAP_}")"; done
args+=("--bounding-set=$bounding")
[ "$(value NoNewPrivileges)" = yes ] && args+=(--no-new-privs)
if [ "$(value DynamicUser)" = yes ]; then
  # What systemd would pick: a uid in 61184-65519 that no user has.
  uid=61184
  while getent passwd "$uid" >/dev/null || getent group "$uid" >/dev/null; do uid=$((uid + 1)); done
  groups=$uid
  for g in $(value SupplementaryGroups); do
    gid=$(getent group "$g" | cut -d: -f3) || { echo "unit-exec: SupplementaryGroups=$g: no such group" >&2; exit 1; }
    groups+=",$gid"
  done
  args+=("--reuid=$uid" "--regid=$uid" "--groups=$groups")
fi
# (As far as this machine's hard limit lets: a container may not raise it.)
[ "$(value LimitMEMLOCK)" = infinity ] && { ulimit -l unlimited 2>/dev/null || ulimit -l "$(ulimit -H -l)"; }
mask=$(value UMask)
[ -n "$mask" ] && umask "$mask"
exec setpriv "${args[@]}" -- "$@"
