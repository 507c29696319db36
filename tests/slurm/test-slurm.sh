#!/bin/sh
# make test-slurm: `m2pt slurm --submit` on a real Slurm, a single-node cluster on localhost.
#
# 1. installs slurm-wlm and munge from Debian when missing (needs root: it also starts daemons);
# 2. starts munged (as the munge user; an already running munged is used instead), slurmctld
#    and slurmd in the foreground of this shell, with a slurm.conf of their own in a scratch
#    directory (proctrack/linuxproc, task/none, no accounting: jobs are followed with squeue
#    and scontrol), and waits for the node to be idle;
# 3. runs tests/slurm/tiny.yaml locally (m2pt run --threads 1), then submits it with
#    `m2pt slurm --shards 2 --cpus-per-task 1 --submit` and polls until the jobs are gone;
#    every job must have COMPLETED with exit code 0, each auxiliary model trained once;
# 4. checks that the merged database holds the same runs as the local one, with bit-identical
#    summary metrics and the same `m2pt compare` output;
# 5. resubmits: with everything done only the merge runs again and changes nothing; after a
#    shard database is lost, only that shard's tasks run, and the result is the same;
# 6. stops the daemons it started, by their process ids (also on failure or Ctrl-C).
# Exits non-zero on any failure; M2PT_KEEP_TMP=1 keeps the scratch directory (kept on failure).
set -eu

root=$(pwd)
build="${M2PT_BUILD:-build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac # absolute, or relative to the repository
m2pt="$build/m2pt"
started=$(date +%s)
say() { printf 'test-slurm: %s\n' "$*"; }
die() {
    printf 'test-slurm: FAIL: %s\n' "$*" >&2
    exit 1
}
elapsed() { echo $(($(date +%s) - started)); }

[ "$(id -u)" = 0 ] || die "must run as root: it installs Debian packages and starts munged, slurmctld and slurmd"
[ -x "$m2pt" ] || die "$m2pt is missing (build it with 'make')"
[ -f "$root/tests/slurm/tiny.yaml" ] || die "run it from the repository root (make test-slurm)"

# ---------------------------------------------------------------- 1. packages
missing=
for p in slurm-wlm munge; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
    say "installing$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
say "packages ready after $(elapsed) s"

# ---------------------------------------------------------------- scratch directory, clean-up
T=$(mktemp -d /tmp/m2pt_test_slurm.XXXXXX)
pids=
cleanup() {
    rc=$?
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    for p in $pids; do wait "$p" 2>/dev/null || true; done
    if [ "$rc" = 0 ] && [ "${M2PT_KEEP_TMP:-0}" = 0 ]; then rm -rf "$T"; else say "kept $T"; fi
    say "$([ "$rc" = 0 ] && echo passed || echo failed) in $(elapsed) s"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for SECONDS COMMAND...: polls every 0.2 s until the command succeeds
wait_for() {
    limit=$(($(date +%s) + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$limit" ] || return 1
        sleep 0.2
    done
}

# ---------------------------------------------------------------- 2. daemons
munge_ok() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }
mkdir -p /run/munge
chown munge:munge /run/munge
chmod 0755 /run/munge
if munge_ok; then
    say "using the munged that is already running"
else
    setpriv --reuid=munge --regid=munge --clear-groups /usr/sbin/munged --foreground >"$T/munged.log" 2>&1 &
    pids="$pids $!"
    wait_for 20 munge_ok || die "munged did not start: $(cat "$T/munged.log")"
fi

mkdir -p "$T/state" "$T/spool" "$T/work"
cpus=$(nproc)
cat >"$T/slurm.conf" <<CONF
ClusterName=m2pttest
SlurmctldHost=localhost
SlurmctldPort=16817
SlurmdPort=16818
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
MinJobAge=3600
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=m2pt Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
SLURM_CONF="$T/slurm.conf"
export SLURM_CONF
/usr/sbin/slurmctld -D -c >"$T/slurmctld.out" 2>&1 &
pids="$pids $!"
/usr/sbin/slurmd -D -N localhost >"$T/slurmd.out" 2>&1 &
pids="$pids $!"
node_idle() { sinfo -h -n localhost -o %t | grep -qx idle; }
wait_for 60 node_idle || die "the node did not come up idle: $(sinfo 2>&1); see $T/slurmctld.log and $T/slurmd.log"
say "slurmctld and slurmd up after $(elapsed) s ($cpus CPUs)"

# ---------------------------------------------------------------- 3. local reference, then Slurm
cd "$T/work"
cp "$root/tests/slurm/tiny.yaml" .
"$m2pt" run tiny.yaml --db local.db --cache cache-local --threads 1 --quiet >local.out 2>&1 ||
    die "local run failed: $(cat local.out)"
say "local run done after $(elapsed) s"

q() { sqlite3 -batch -noheader "$@"; }
expect() { # expect WHAT WANT GOT
    [ "$2" = "$3" ] || die "$1: expected '$2', got '$3'"
}

# submit_and_wait NAME TASKS: m2pt slurm --submit (output in NAME.out), then polls until no job
# is left; TASKS jobs and array tasks must have completed with exit code 0
submit_and_wait() {
    "$m2pt" slurm tiny.yaml --shards 2 --cpus-per-task 1 --partition m2pt --db merged.db --cache cache --dir sl \
        --submit >"$1.out" 2>&1 || die "m2pt slurm --submit failed: $(cat "$1.out")"
    ids=$(sed -n 's/^m2pt slurm: job ids: //p' "$1.out")
    [ -n "$ids" ] || die "no job ids in $1.out: $(cat "$1.out")"
    limit=$(($(date +%s) + 600))
    while [ -n "$(squeue -h -o %i)" ]; do
        [ "$(date +%s)" -lt "$limit" ] || die "jobs still queued after 600 s: $(squeue)"
        sleep 0.5
    done
    : >"$1.jobs"
    for id in $ids; do
        scontrol -o show job "$id" >>"$1.jobs" 2>&1 || die "scontrol show job $id: $(cat "$1.jobs")"
    done
    if grep -v 'JobState=COMPLETED .*ExitCode=0:0' "$1.jobs" | grep -q .; then
        die "a job did not complete: $(cat "$1.jobs"); logs in $T/work/sl"
    fi
    expect "completed jobs and array tasks of $1" "$2" "$(grep -c 'JobState=COMPLETED' "$1.jobs")"
    say "$1: jobs $ids completed after $(elapsed) s"
}

submit_and_wait first 5 # 2 auxiliary tasks, 2 target tasks, the merge
grep -q 'submitted the auxiliary phase: job .* (tasks 1-2)' first.out || die "no auxiliary phase of 2 tasks: $(cat first.out)"
grep -q 'submitted the target phase: job .* (tasks 1-2)' first.out || die "no target phase of 2 tasks: $(cat first.out)"
# each auxiliary model trained once, by the auxiliary phase; the target tasks imported them
expect "auxiliary models trained" 2 "$(cat sl/*.out | grep -c 'auxiliary model: image')"
expect "auxiliary models trained in the auxiliary phase" 2 "$(cat sl/aux-*.out | grep -c 'auxiliary model: image')"

# ---------------------------------------------------------------- 4. merged == local
same_runs() {
    expect "runs" "$(q local.db 'SELECT cell_hash, role, status, pathway, seed FROM runs ORDER BY cell_hash')" \
        "$(q merged.db 'SELECT cell_hash, role, status, pathway, seed FROM runs ORDER BY cell_hash')"
    expect "run ids" "$(q local.db 'SELECT id, cell_hash FROM runs ORDER BY id')" \
        "$(q merged.db 'SELECT id, cell_hash FROM runs ORDER BY id')"
    # bit-identical: SQLite compares REAL values exactly
    expect "summary metrics that differ" "6|0" "$(q merged.db "ATTACH 'local.db' AS l;
        SELECT count(*), CAST(total(ms.test_acc IS NOT ls.test_acc OR ms.test_acc_unmerged IS NOT ls.test_acc_unmerged
            OR ms.best_val_acc IS NOT ls.best_val_acc OR ms.last_val_acc IS NOT ls.last_val_acc
            OR ms.test_loss IS NOT ls.test_loss OR ms.params_trainable IS NOT ls.params_trainable
            OR ms.params_inference IS NOT ls.params_inference OR ms.epochs_done IS NOT ls.epochs_done) AS INTEGER)
        FROM runs m JOIN l.runs r USING (cell_hash) JOIN summary ms ON ms.run_id = m.id
        JOIN l.summary ls ON ls.run_id = r.id")"
    expect "metric values that differ" "0" "$(q merged.db "ATTACH 'local.db' AS l;
        SELECT (SELECT count(*) FROM (SELECT r.cell_hash, x.key, x.step, x.epoch, x.value FROM metrics x
                JOIN runs r ON r.id = x.run_id WHERE x.key NOT IN ('samples_per_s', 'epoch_seconds')
            EXCEPT SELECT r.cell_hash, x.key, x.step, x.epoch, x.value FROM l.metrics x
                JOIN l.runs r ON r.id = x.run_id))")"
    expect "auxiliary links" "$(q local.db 'SELECT t.cell_hash, a.cell_hash FROM runs t JOIN runs a ON a.id = t.aux_run_id ORDER BY 1')" \
        "$(q merged.db 'SELECT t.cell_hash, a.cell_hash FROM runs t JOIN runs a ON a.id = t.aux_run_id ORDER BY 1')"
    "$m2pt" compare slurm-tiny --db local.db >compare-local.txt
    "$m2pt" compare slurm-tiny --db merged.db >compare-merged.txt
    cmp -s compare-local.txt compare-merged.txt || die "compare differs: $(diff compare-local.txt compare-merged.txt)"
}
same_runs
expect "merged sources" 2 "$(q merged.db 'SELECT count(*) FROM merge_sources')"
say "merged database = local run: 6 runs, bit-identical summaries and metrics, same comparison"

# ---------------------------------------------------------------- 5. resubmission
q merged.db .dump >before.sql
submit_and_wait again 1 # the merge alone
grep -q 'auxiliary tasks to run: none; target tasks to run: none' again.out || die "resubmission ran tasks: $(cat again.out)"
grep -q 'merged before' sl/merge.out || die "the second merge found something new: $(cat sl/merge.out)"
q merged.db .dump >after.sql
cmp -s before.sql after.sql || die "merging again changed the merged database"

rm sl/shard-2.db sl/shard-2.db-wal sl/shard-2.db-shm 2>/dev/null || true # a lost shard
submit_and_wait lost 3 # shard 2's auxiliary and target tasks, the merge
grep -q 'auxiliary tasks to run: 2; target tasks to run: 2' lost.out || die "expected only shard 2: $(cat lost.out)"
expect "auxiliary models trained again" 0 "$(grep -c 'auxiliary model: image' sl/aux-2.out || true)"
same_runs
say "resubmission ran only the unfinished shard, nothing trained twice, the same results"
