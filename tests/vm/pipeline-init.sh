#!/bin/sh
# pipeline-init.sh — /init of the qemu pipeline test (tests/vm/run-vm.sh SUITE pipeline):
# the real vigil tree under s6 (collector, enricher, evaluator, exporter, enforcer: the
# build's dynamically linked binaries with their libraries, supervise/ as shipped), a
# YAML policy loaded by the evaluator from its policy directory, and the operations it
# denies tried with /bin/vm_probe. Prints PASS/FAIL lines and VM-PIPE-RESULT for
# tests/lib/enforcetest.py (vm_pipeline_run), then powers off.
export PATH=/bin:/usr/bin
mount -t proc none /proc
/bin/busybox --install -s /bin
mount -t sysfs none /sys
mount -t devtmpfs none /dev
mount -t securityfs none /sys/kernel/security
mount -t bpf none /sys/fs/bpf
mount -t tracefs none /sys/kernel/tracing
mount -t cgroup2 none /sys/fs/cgroup
mount -t tmpfs none /tmp
mount -t tmpfs none /run
ifconfig lo 127.0.0.1 up
echo "VM-KERNEL $(cat /proc/version)"
echo "VM-LSM $(cat /sys/kernel/security/lsm)"

pass=0
fail=0
ok() { echo "PASS $1"; pass=$((pass + 1)); }
ko() { echo "FAIL $1: $2"; fail=$((fail + 1)); }
# judge NAME WANT GOT: PASS when the probe printed exactly WANT
judge() { if [ "$3" = "$2" ]; then ok "$1"; else ko "$1" "got '$3', want '$2'"; fi; }
# until_probe SECONDS WANT ARGS...: poll vm_probe ARGS until it prints WANT
until_probe() {
	t=$(($1 * 10)); want=$2; shift 2
	while [ $t -gt 0 ]; do
		[ "$(/bin/vm_probe "$@")" = "$want" ] && return 0
		sleep 0.1
		t=$((t - 1))
	done
	return 1
}
PORT=4711
EACCES=13

# What the policy denies, and a marker the denied script would leave.
echo SECRET > /tmp/secret
echo PUBLIC > /tmp/public
printf '#!/bin/sh\necho ran > /tmp/denied.ran\n' > /tmp/denied.sh
printf '#!/bin/sh\nexit 0\n' > /tmp/allowed.sh
chmod +x /tmp/denied.sh /tmp/allowed.sh

mkdir -p /etc/vigil/policies.d /var/log/vigil
policy() {
	cat > /etc/vigil/policies.d/vm.yaml.tmp <<EOF
name: vm-deny
description: the VM pipeline test's forbidden open, exec and connect
severity: high
mode: $1
action: override
errno: EACCES
message: "{process.binary} denied"
rules:
  - event: file
    operation: [open]
    file:
      path: [/tmp/secret]
  - event: exec
    process:
      binary: [/tmp/denied.sh]
  - event: network
    operation: [connect]
    network:
      address: [127.0.0.2/32]
      port: [$PORT]
      protocol: [tcp]
EOF
	mv /etc/vigil/policies.d/vm.yaml.tmp /etc/vigil/policies.d/vm.yaml
}
policy enforce

# Before the tree: everything goes through.
judge base_open "errno=0 bytes=7" "$(/bin/vm_probe open /tmp/secret)"

export VIGIL_BIN=/vigil/bin VIGIL_RUNDIR=/run/vigil VIGIL_LOGDIR=/var/log/vigil \
	VIGIL_CONFDIR=/etc/vigil VIGIL_STAGES="collector enricher evaluator exporter enforcer" \
	VIGIL_EXPORTER_OPTS="--export-file /tmp/events.json" \
	VIGIL_EVALUATOR_OPTS="--policy-dir /etc/vigil/policies.d" \
	VIGIL_ENRICHER_OPTS="--node-name vigil-vm"
sh /vigil/supervise/prepare
sh /vigil/supervise/layout /service
s6-svscan /service > /dev/console 2>&1 &
t0=$(cut -d' ' -f1 /proc/uptime)
# up_STAGE: up and ready within 90 s. A stage that gave up for good (s6 no longer
# wants it up: its finish script saw exit 100) fails at once, with its log's last line.
for s in enforcer evaluator enricher exporter collector; do
	t=900
	st=
	while [ $t -gt 0 ]; do
		st=$(s6-svstat -o up,ready,wantedup /service/$s 2>/dev/null)
		case $st in
		"true true true") break ;;
		"false "*" false") break ;;
		esac
		sleep 0.1
		t=$((t - 1))
	done
	if [ "$st" = "true true true" ]; then ok "up_$s"
	else ko "up_$s" "$(s6-svstat /service/$s): $(tail -1 /var/log/vigil/$s/current 2>/dev/null)"; fi
done
echo "VM-PIPE-UP $(cut -d' ' -f1 /proc/uptime) (tree started at $t0)"

# The evaluator compiles the YAML into a policy_set; the enforcer arms it.
if until_probe 30 "errno=$EACCES bytes=0" open /tmp/secret; then ok policy_in_force
else ko policy_in_force "the open never failed: $(/bin/vm_probe open /tmp/secret)"; fi
echo "VM-PIPE-ARMED $(cut -d' ' -f1 /proc/uptime)"
check_blocked() {
	judge "$1_open_eacces" "errno=$EACCES bytes=0" "$(/bin/vm_probe open /tmp/secret)"
	judge "$1_other_open_ok" "errno=0 bytes=7" "$(/bin/vm_probe open /tmp/public)"
	rm -f /tmp/denied.ran
	judge "$1_exec_denied" "errno=$EACCES status=127" "$(/bin/vm_probe exec /tmp/denied.sh)"
	if [ -e /tmp/denied.ran ]; then ko "$1_exec_never_ran" "the denied script ran"
	else ok "$1_exec_never_ran"; fi
	judge "$1_other_exec_ok" "errno=0 status=0" "$(/bin/vm_probe exec /tmp/allowed.sh)"
	judge "$1_connect_denied" "errno=$EACCES" "$(/bin/vm_probe connect 127.0.0.2 $PORT)"
	judge "$1_other_connect_ok" "errno=0" "$(/bin/vm_probe connect 127.0.0.1 $PORT)"
}
check_blocked enforce

# Kill the enforcer (SIGKILL: a crash) and keep s6 from restarting it: the block holds.
s6-svc -O /service/enforcer
pid=$(s6-svstat -p /service/enforcer)
kill -9 "$pid"
if s6-svwait -D -t 10000 /service/enforcer; then ok enforcer_killed
else ko enforcer_killed "$(s6-svstat /service/enforcer)"; fi
check_blocked killed
# Back under s6: it adopts the pinned maps and links.
s6-svc -u /service/enforcer
if s6-svwait -U -t 60000 /service/enforcer; then ok enforcer_restarted
else ko enforcer_restarted "$(s6-svstat /service/enforcer)"; fi
check_blocked restarted

# Monitor mode through the evaluator (the policy directory is watched): nothing is
# blocked, every would-block is reported.
policy monitor
if until_probe 30 "errno=0 bytes=7" open /tmp/secret; then ok monitor_in_force
else ko monitor_in_force "still blocked: $(/bin/vm_probe open /tmp/secret)"; fi
judge monitor_open_ok "errno=0 bytes=7" "$(/bin/vm_probe open /tmp/secret)"
rm -f /tmp/denied.ran
judge monitor_exec_ok "errno=0 status=0" "$(/bin/vm_probe exec /tmp/denied.sh)"
if [ -e /tmp/denied.ran ]; then ok monitor_exec_ran; else ko monitor_exec_ran "no marker"; fi
judge monitor_connect_ok "errno=0" "$(/bin/vm_probe connect 127.0.0.2 $PORT)"

# The reports in the exporter's JSON file: the enforcer's (enforcer -> enricher ->
# evaluator -> exporter), OVERRIDE while enforcing, "would have blocked" in monitor.
# report NAME PATTERN...: some exported line matches every pattern
report() {
	name=$1; shift
	t=100
	while [ $t -gt 0 ]; do
		lines=$(cat /tmp/events.json 2>/dev/null)
		for p in "$@"; do lines=$(echo "$lines" | grep -F -- "$p"); done
		[ -n "$lines" ] && { ok "$name"; return; }
		sleep 0.1
		t=$((t - 1))
	done
	ko "$name" "no exported line with: $*"
}
# The enforcer's own reports: the errno it returned; "would have blocked" as its message.
PN='"policy_name":"vm-deny"'
OV='"action":"KPROBE_ACTION_OVERRIDE"'
RET='"return":{"int_arg":-13}'
MON='"action":"KPROBE_ACTION_POST"'
WB='"message":"would have blocked"'
report report_open_override "$PN" "$OV" "$RET" '"function_name":"security_file_open"' '"path":"/tmp/secret"'
report report_exec_override "$PN" "$OV" "$RET" '"function_name":"security_bprm_check"' '"path":"/tmp/denied.sh"'
report report_connect_override "$PN" "$OV" "$RET" '"function_name":"security_socket_connect"' '"addr":"127.0.0.2"'
report report_open_monitor "$PN" "$MON" "$WB" '"function_name":"security_file_open"' '"path":"/tmp/secret"'
report report_exec_monitor "$PN" "$MON" "$WB" '"function_name":"security_bprm_check"' '"path":"/tmp/denied.sh"'
report report_connect_monitor "$PN" "$MON" "$WB" '"function_name":"security_socket_connect"' '"addr":"127.0.0.2"'

echo "VM-PIPE-EXPORT-LINES $(wc -l < /tmp/events.json 2>/dev/null)"
echo "VM-PIPE-ENFORCER-INFO $(grep -h 'lsm hooks\|LSM\|bpf_set_retval\|generation' /var/log/vigil/enforcer/current 2>/dev/null | tail -5 | tr '\n' '|')"
echo "--- export (vm-deny lines)"
grep -F '"policy_name":"vm-deny"' /tmp/events.json 2>/dev/null | sed 's/^{"\([a-z_]*\)".*"function_name"/EXPORT \1 "function_name"/' | cut -c1-400
if [ "$fail" != 0 ]; then
	for s in enforcer evaluator collector; do
		echo "--- log $s"
		tail -15 /var/log/vigil/$s/current 2>/dev/null
	done
fi
echo "VM-PIPE-RESULT pass=$pass fail=$fail"
s6-svscanctl -t /service 2>/dev/null
sleep 1
poweroff -f
