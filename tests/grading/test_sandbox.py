"""course.grading.sandbox, from inside: no keyring a later sandbox can read, no nested user
namespace, no host layout on process 1's command line, a readable ``/etc``; as root, bounded
processes and a CPU quota (marked ``grading``)."""

import ctypes  # noqa: F401 - used by the code run in the sandbox (documented there)
import json
import os
import uuid

import pytest

from course.grading import sandbox
from course.layout import REPO_ROOT

pytestmark = pytest.mark.grading


def _in_sandbox(code):
    """Run `code` with the course's Python in a sandbox of its own; its standard output."""
    proc, _ = sandbox.run_python(code)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


_LIBC = "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"


def test_a_key_stored_by_one_kernel_is_not_read_by_the_next():
    """A payload a kernel puts into a keyring (the user's or the session's) must not reach a
    later, unrelated sandbox: add_key itself is refused."""
    name = f"bnlab-{uuid.uuid4().hex}".encode()
    store = _LIBC + (
        "for ring in (-4, -3):  # the user keyring, the session keyring\n"
        f"    r = libc.syscall(248, b'user', {name!r}, b'the-payload', 11, ring)\n"
        "    print('add_key', ring, r, ctypes.get_errno())\n"
    )
    read = _LIBC + (
        "buf = ctypes.create_string_buffer(64)\n"
        "for ring in (-4, -3):\n"
        f"    key = libc.syscall(250, 10, ring, b'user', {name!r}, 0)  # KEYCTL_SEARCH\n"
        "    n = libc.syscall(250, 11, key, buf, 64) if key > 0 else -1  # KEYCTL_READ\n"
        "    print('found', ring, key, buf.raw[:max(n, 0)])\n"
    )
    stored = _in_sandbox(store)
    found = _in_sandbox(read)
    assert "the-payload" not in found, (stored, found)
    # refused outright, with EPERM (1)
    assert stored.split("\n")[0].split()[-2:] == ["-1", "1"], stored


def test_no_user_namespace_can_be_created_inside():
    out = _in_sandbox(
        _LIBC + "print(libc.unshare(0x10000000), ctypes.get_errno())\n"
        "import subprocess\n"
        "r = subprocess.run(['unshare', '-U', 'true'], capture_output=True)\n"
        "print('unshare -U:', r.returncode)\n"
    )
    first, second = out.splitlines()[:2]
    assert first == "-1 1", out
    assert second != "unshare -U: 0", out


def test_process_one_shows_nothing_of_the_host_layout():
    """bubblewrap's own options (what is bound where) travel through a descriptor: every path
    on process 1's command line exists inside the sandbox (it is the kernel's own interpreter)."""
    out = _in_sandbox(
        "import json, os\n"
        "args = open('/proc/1/cmdline').read().split('\\0')\n"
        "print(json.dumps([[a, os.path.exists(a)] for a in args if a.startswith('/')]))\n"
        "print(json.dumps(args))\n"
    )
    paths, args = (json.loads(line) for line in out.splitlines()[:2])
    assert not any(a.startswith(("--ro-bind", "--bind", "--tmpfs", "--dir")) for a in args), args
    assert all(exists for _, exists in paths), paths
    assert not any(str(REPO_ROOT) in a and "python" not in a for a in args), args


def test_etc_is_readable_inside():
    out = _in_sandbox(
        "import os, stat\n"
        "print(oct(stat.S_IMODE(os.stat('/etc').st_mode)), sorted(os.listdir('/etc'))[:3])\n"
        "print(open('/etc/passwd').read().count(':') > 0)\n"
    )
    mode, readable = out.splitlines()[:2]
    assert int(mode.split()[0], 8) & 0o005 == 0o005, out
    assert readable == "True"


def test_the_number_of_processes_is_bounded_as_root():
    """Forking until refused stops near the bound (64 for the kernel and its children)."""
    if os.geteuid() != 0:
        pytest.skip("cgroups are written only when grading runs as root")
    out = _in_sandbox(
        "import os, time\n"
        "n = 0\n"
        "try:\n"
        "    while n < 1000:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(30)\n"
        "            os._exit(0)\n"
        "        n += 1\n"
        "except OSError:\n"
        "    pass\n"
        "print(n, flush=True)\n"
        "os._exit(0)\n"
    )
    assert 0 < int(out.split()[0]) < 64, out


def test_each_sandbox_has_a_cpu_quota_as_root():
    if os.geteuid() != 0:
        pytest.skip("cgroups are written only when grading runs as root")
    cgroup = sandbox.Cgroup(sandbox.Limits(cpus=1.0))
    try:
        assert cgroup.cpu and sandbox.cpu_bounded() == "cgroup"
        quotas = [f / "cpu.cfs_quota_us" for f in cgroup.folders] + [
            f / "cpu.max" for f in cgroup.folders
        ]
        values = [q.read_text().split()[0] for q in quotas if q.exists()]
        assert "100000" in values, values
    finally:
        cgroup.close()
