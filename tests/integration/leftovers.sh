# reap_leftovers DIR: after a daemon under test crashed or was SIGKILLed, removes what it left
# behind under its temp dir DIR, so a failed run leaks nothing: processes whose argv names a path
# under DIR (shims, helpers) or whose root is under DIR (container processes) get SIGKILL, then
# every mount under DIR is lazily unmounted, deepest first. A clean shutdown leaves nothing to do.
reap_leftovers() {
    _dir=$1
    _pids=$( {
        grep -ls "$_dir[/]" /proc/[0-9]*/cmdline | cut -d/ -f3 # [/]: not grep's own argv
        ls -l /proc/[0-9]*/root 2>/dev/null | grep -F " -> $_dir/" | sed 's|.* /proc/\([0-9]*\)/root .*|\1|'
    } | grep -vx "$$" | sort -u)
    if [ -n "$_pids" ]; then
        echo "reap_leftovers: killing processes left under $_dir:" >&2
        ps -o pid=,args= -p "$(echo $_pids | tr ' ' ,)" >&2 || true
        kill -9 $_pids 2>/dev/null || true
        sleep 0.2
    fi
    grep -o " $_dir/[^ ]*" /proc/self/mountinfo | sort -r | while read -r _m; do
        umount -l "$_m" 2>/dev/null || true
    done
}
