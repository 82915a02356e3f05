"""collector in qemu on Debian bookworm's stock 6.1 kernel (no bpf_rdonly_cast: the
collector must pick the *_nocast builds): the self-test's VM subset (exec records with
binary, cwd, arguments, credentials and exit status; relative, memfd and deeper-than-
PATH_MAX execs; opens through cwd, "..", a symlink, dirfds and a bind mount resolved to
the real path) passes, every check printed on the console."""
from collectorvmtest import collector_vm_run
from vigiltest import need_root, run_test


def test():
    need_root()
    collector_vm_run("bookworm", "nocast")


run_test(test)
