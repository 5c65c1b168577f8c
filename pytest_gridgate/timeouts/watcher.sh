# gridgate's timeouts supervisor: the watcher loop (POSIX sh; started by supervisor.py).
#
#   sh -c ". \"$0\"" watcher.sh STATE RUN_PID RUN_START_TIME TAKE_OVER_COMMAND...
#
# It wakes every second (a killed `sleep` does not count) and counts the wake-ups during
# which the same GEN stays armed in STATE (see state.py), from its first sight of GEN;
# TICKS of them come at least TICKS seconds after the arming: it errs late, never early.
# Then it starts the Python take-over (takeover.py) as its child, which reads the state
# again: exit 0, the run was ended (or is gone); else the test finished meanwhile, and it
# watches on. A field that is not a number (a read torn by a write) counts as unarmed.
#
# It is not a child of the run: the script puts the loop in the background and exits, so
# the loop belongs to init (or the nearest subreaper), which reaps it. A test that kills
# every child of its process (`psutil.Process().children(recursive=True)`, a common
# cleanup idiom) would otherwise kill it, and a later test holding the GIL would hang the
# run. It watches the run by its /proc entry and start time instead of its parent: gone,
# a zombie or another process means the run ended. A run that ended without stopping it
# (`os._exit`, a kill from outside, a crash in C) gets the take-over's "ended" report.
#
# A shell, not Python: it starts in well under a millisecond of CPU, a Python interpreter
# in about 8 ms, and every run pays for it.
watch() {
    state=$1 parent=$2 started=$3
    shift 3
    printf gridgate-watchdog >/proc/self/comm
    armed= count=0
    while :; do
        sleep 1
        slept=$?
        [ "$slept" -gt 128 ] && continue  # sleep killed (by some cleanup): sleep again
        [ "$slept" -eq 0 ] || exit 0  # no sleep to be had: never spin
        line=
        read -r line <"/proc/$parent/stat" 2>/dev/null
        if [ -z "$line" ] || ! same_run ${line##*) }; then
            [ -d "${state%/*}" ] && "$@" ended
            rm -rf "${state%/*}"
            exit 0
        fi
        read -r gen ticks rest <"$state" || exit 0
        case $gen in '' | *[!0-9]* | ???????????*) armed=; continue ;; esac
        case $ticks in '' | *[!0-9]* | ???????????*) armed=; continue ;; esac
        if [ "$ticks" -eq 0 ]; then
            armed=
        elif [ "$gen" != "$armed" ]; then
            armed=$gen count=0
        else
            count=$((count + 1))
            if [ "$count" -ge "$ticks" ]; then
                "$@" "$gen" && exit 0
                armed=
            fi
        fi
    done
}
# The run's /proc/PID/stat after "(comm) ": state is field 1, the start time field 20.
same_run() {
    [ "$1" != Z ] && [ "$1" != X ] && [ "${20}" = "$started" ]
}
# exec, not a redirection of the call: dash keeps a copy of the descriptors it redirects
# for a function, and the launcher's stdout would never reach end of file.
(exec </dev/null >/dev/null 2>&1; watch "$@") &
echo $!
