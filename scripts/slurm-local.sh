#!/usr/bin/env bash
# A single-node Slurm cluster on this machine for tests (munge, slurmctld, slurmd; no systemd).
#
#   scripts/slurm-local.sh start    install slurm-wlm + munge if missing, start the daemons, wait until
#                                   the node is idle (a second start finds it running and returns)
#   scripts/slurm-local.sh stop     stop the daemons this script started and wait until they are gone
#   scripts/slurm-local.sh status   daemons, node state and queue (exit 0 when up, 3 when not)
#
# Config, state and logs live in $HARNESS_SLURM_DIR (default /tmp/harness-slurm). The config is
# also linked at /etc/slurm/slurm.conf, where the clients (sbatch, squeue, scontrol) find it without
# any environment, unless that file already belongs to a real cluster: then this script says so and
# prints the `export SLURM_CONF=...` the clients need.
# Exit status: 0 done; 77 when Slurm cannot be had here (not root, no apt-get, the install
# failed), so tests skip; 1 anything else (naming the log to read).
# Needs root (daemons, apt-get). Not for production: one node, CPUs overstated so that tests can
# run more tasks than this machine has cores, no accounting database.
set -euo pipefail

DIR="${HARNESS_SLURM_DIR:-/tmp/harness-slurm}"
CONF="$DIR/slurm.conf"
ETC_CONF=/etc/slurm/slurm.conf
MARKER="# written by harness scripts/slurm-local.sh"
WAIT_S="${HARNESS_SLURM_WAIT_S:-60}"
export SLURM_CONF="$CONF"

say() { printf '[slurm-local] %s\n' "$*" >&2; }
die() { printf '[slurm-local] error: %s\n' "$*" >&2; exit 1; }
unavailable() { printf '[slurm-local] unavailable: %s\n' "$*" >&2; exit 77; }

need_root() {
  [ "$(id -u)" = 0 ] || unavailable "must run as root (it starts munged, slurmctld and slurmd and may apt-get install); try: sudo $0 $*"
}

# pid_alive FILE: the PID in FILE is a live process of the program the file is named after
# (slurmd.pid → slurmd), so that a PID reused after a reboot does not count.
pid_alive() {
  local pid name
  [ -s "$1" ] || return 1
  pid="$(cat "$1" 2>/dev/null)" || return 1
  name="$(basename "$1" .pid)"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]
}

install_packages() {
  local missing=()
  for bin in slurmctld slurmd sbatch munged; do
    command -v "$bin" >/dev/null 2>&1 || missing+=("$bin")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 \
    || unavailable "${missing[*]} not found and there is no apt-get: install Slurm (slurmctld, slurmd, client) and munge by hand"
  say "installing slurm-wlm munge (missing: ${missing[*]})"
  export DEBIAN_FRONTEND=noninteractive
  # The packages' postinst scripts try to start the daemons through invoke-rc.d; without an init
  # system that is refused, which is harmless: this script starts them itself.
  if ! apt-get install -y --no-install-recommends slurm-wlm munge >"$DIR/apt.log" 2>&1; then
    say "apt-get install failed; running apt-get update once and retrying"
    apt-get update >>"$DIR/apt.log" 2>&1 || unavailable "apt-get update failed (see $DIR/apt.log)"
    apt-get install -y --no-install-recommends slurm-wlm munge >>"$DIR/apt.log" 2>&1 \
      || unavailable "apt-get install slurm-wlm munge failed (see $DIR/apt.log)"
  fi
  for bin in slurmctld slurmd sbatch munged; do
    command -v "$bin" >/dev/null 2>&1 || die "$bin still missing after installing slurm-wlm munge"
  done
}

munge_works() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
  if munge_works; then return 0; fi
  id munge >/dev/null 2>&1 || die "no munge user (the munge package creates it): reinstall munge"
  # /run/munge normally comes from systemd's tmpfiles.
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /etc/munge
  if [ ! -s /etc/munge/munge.key ]; then
    say "creating /etc/munge/munge.key"
    mungekey --create --keyfile=/etc/munge/munge.key >/dev/null
  fi
  chown munge:munge /etc/munge/munge.key
  chmod 0600 /etc/munge/munge.key
  install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
  runuser -u munge -- /usr/sbin/munged --force 9>&-
  touch "$DIR/munged.ours"
  local i
  for i in $(seq 1 50); do
    munge_works && return 0
    sleep 0.2
  done
  die "munged started but \`munge -n | unmunge\` fails (see /var/log/munge/munged.log)"
}

write_conf() {
  local mem_mb
  mem_mb=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
  install -d -o slurm -g slurm -m 0755 "$DIR/state" "$DIR/log"
  install -d -m 0755 "$DIR/spool"
  cat >"$CONF.new" <<EOF
$MARKER (HARNESS_SLURM_DIR=$DIR)
ClusterName=harness-local
SlurmctldHost=localhost
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
# The cgroup plugins fail in containers and Slurm then reports jobs COMPLETED that never ran.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
KillWait=10
MinJobAge=60
MailProg=/bin/true
# More CPUs than the machine has, so a test can run several array tasks at once.
SlurmdParameters=config_overrides
NodeName=localhost NodeAddr=127.0.0.1 NodeHostname=localhost CPUs=4 RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
  mv "$CONF.new" "$CONF"
  chmod 0644 "$CONF"
  # Link it where the clients look by default, unless a real cluster's config is there.
  if [ -L "$ETC_CONF" ] || [ ! -e "$ETC_CONF" ] || grep -qF "$MARKER" "$ETC_CONF" 2>/dev/null; then
    install -d /etc/slurm
    ln -sfn "$CONF" "$ETC_CONF"
  else
    say "$ETC_CONF belongs to another cluster and is left alone; point the clients at this one with:"
    say "  export SLURM_CONF=$CONF"
  fi
}

node_state() { sinfo -h -n localhost -o %T 2>/dev/null | head -n1; }

wait_idle() {
  local i state=""
  for i in $(seq 1 $((WAIT_S * 5))); do
    if scontrol ping >/dev/null 2>&1; then
      state="$(node_state)"
      case "$state" in
        idle|mixed|allocated|completing) return 0 ;;
        down*|drain*|fail*) scontrol update NodeName=localhost State=RESUME >/dev/null 2>&1 || true ;;
      esac
    fi
    sleep 0.2
  done
  die "the node is not idle after ${WAIT_S}s (state '${state:-no answer}'); see $DIR/log/slurmctld.log and $DIR/log/slurmd.log"
}

daemons_up() {
  pid_alive "$DIR/slurmctld.pid" && pid_alive "$DIR/slurmd.pid" && munge_works
}

# One start or stop at a time (tests may call start concurrently).
lock() {
  mkdir -p "$DIR"
  exec 9>"$DIR/lock"
  flock 9
}

cmd_start() {
  need_root start
  lock
  install_packages
  if daemons_up && scontrol ping >/dev/null 2>&1; then
    wait_idle
    say "already running (node $(node_state)); config $CONF"
    return 0
  fi
  start_munge
  write_conf
  if ! pid_alive "$DIR/slurmctld.pid"; then
    /usr/sbin/slurmctld -f "$CONF" 9>&- || die "slurmctld did not start (see $DIR/log/slurmctld.log)"
  fi
  if ! pid_alive "$DIR/slurmd.pid"; then
    /usr/sbin/slurmd -f "$CONF" -N localhost 9>&- || die "slurmd did not start (see $DIR/log/slurmd.log)"
  fi
  wait_idle
  say "running: node localhost $(node_state), config $CONF, logs $DIR/log"
}

# stop_pidfile NAME FILE: SIGTERM, wait up to 30 s, then SIGKILL.
stop_pidfile() {
  local name="$1" file="$2" pid i
  pid_alive "$file" || { rm -f "$file"; return 0; }
  pid="$(cat "$file")"
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$file"; say "$name stopped"; return 0; }
    sleep 0.2
  done
  say "$name (pid $pid) still alive after 30 s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
  for i in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  rm -f "$file"
}

cmd_stop() {
  need_root stop
  lock
  stop_pidfile slurmd "$DIR/slurmd.pid"
  stop_pidfile slurmctld "$DIR/slurmctld.pid"
  if [ -e "$DIR/munged.ours" ]; then
    stop_pidfile munged /run/munge/munged.pid
    rm -f "$DIR/munged.ours"
  fi
  say "stopped (state kept in $DIR; delete it for a fresh cluster)"
}

cmd_status() {
  local up=0
  pid_alive "$DIR/slurmctld.pid" && echo "slurmctld: running (pid $(cat "$DIR/slurmctld.pid"))" || { echo "slurmctld: not running"; up=3; }
  pid_alive "$DIR/slurmd.pid" && echo "slurmd: running (pid $(cat "$DIR/slurmd.pid"))" || { echo "slurmd: not running"; up=3; }
  munge_works && echo "munge: working" || { echo "munge: not working"; up=3; }
  echo "config: $CONF"
  if [ "$up" = 0 ] && scontrol ping >/dev/null 2>&1; then
    echo "node localhost: $(node_state)"
    squeue -h -o '%i %j %T %R' 2>/dev/null | sed 's/^/job /' || true
  else
    up=3
  fi
  return "$up"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  -h|--help|help) sed -n 2,15p "$0" ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
