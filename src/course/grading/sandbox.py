"""The OS sandbox every grading kernel runs in: bubblewrap, cgroups, resource limits.

What the kernel of a submission sees and may do (:func:`command` builds it):

- the system (``/usr``, the dynamic linker's files), the Python installation and the course's
  environment with ``bnlab``, **read-only**; nothing else of the machine: no home folder, no
  course repository (``solutions/``, the gradebook, ``nbgrader_config.py``), no other submission;
- one private writable folder, a size-bounded tmpfs that starts empty (the kernel receives
  its notebook's cells over the channel), and a size-bounded ``/tmp``;
- no network (a network namespace of its own with only loopback), its own PID namespace (no
  process outlives the kernel: when it ends, every process it started is killed), its own IPC
  and UTS namespaces, a new session (no terminal injection); run by an ordinary user, no nested
  user namespaces either;
- an unprivileged uid (``nobody``) when grading runs as root;
- bounds on the memory of the kernel and all its children together and on the number of
  processes (a cgroup, when grading runs as root and cgroups are writable; otherwise an address
  space limit per process and the PID namespace), and on file sizes.

:func:`probe` checks once that the sandbox starts here; :class:`SandboxUnavailable` says why not.
"""

import functools
import os
import pwd
import resource
import shutil
import struct
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

BWRAP = "bwrap"
WORKDIR = "/home/student"
UNPRIVILEGED_USER = "nobody"
#: files of /etc the kernel may read (the dynamic linker, fonts, time zone, user names)
ETC_FILES = ("ld.so.cache", "fonts", "localtime", "passwd", "group", "nsswitch.conf")


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot start on this machine (the message says why and what to do)."""


@dataclass(frozen=True)
class Limits:
    memory: int = int(os.environ.get("BNLAB_GRADER_MEMORY", str(3 * 2**30)))  # bytes, all
    processes: int = 64
    #: CPUs the kernel and all its children together may use (a cgroup's CPU quota)
    cpus: float = float(os.environ.get("BNLAB_GRADER_CPUS", "1"))
    disk: int = 512 * 2**20  # bytes of the writable folder, and again of /tmp
    file_size: int = 256 * 2**20
    open_files: int = 512


def python():
    """This interpreter's path without ``..`` (the sandbox has no folder but the bound ones to
    resolve it through); symlinks are kept, so that a virtual environment stays one."""
    return os.path.normpath(os.path.abspath(sys.executable))


def _readable_roots():
    """Directories the kernel needs read-only: the interpreter's installation, the environment,
    and the folder the course's packages are imported from (``src/`` of an editable install;
    only that folder, not the repository around it)."""
    import bnlab
    import course

    roots = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()}
    roots.add(Path(sys.executable).resolve().parent)
    roots.add(Path(python()).parent)
    for pkg in (bnlab, course):
        roots.add(Path(pkg.__file__).resolve().parents[1])
    roots = sorted(roots, key=lambda p: len(p.parts))
    out = []
    for r in roots:
        if not any(r.is_relative_to(o) for o in out) and not r.is_relative_to("/usr"):
            out.append(r)
    return out


def command(argv, limits=None):
    """The bubblewrap command that runs `argv` in the sandbox, and the file descriptors it
    must inherit (``(cmd, fds)``; the caller closes the fds once the process has started).

    The environment's folders are bound from descriptors opened here, so that bubblewrap,
    running as the unprivileged user, binds them even below a folder that user cannot enter
    (a Python installed under ``/root``); it still reads only what the files' modes allow."""
    limits = limits or Limits()
    bwrap = shutil.which(BWRAP)
    if bwrap is None:
        raise SandboxUnavailable("bubblewrap is not installed (Debian: apt-get install bubblewrap)")
    cmd = [bwrap, "--ro-bind", "/usr", "/usr"]
    for link in ("bin", "sbin", "lib", "lib64", "lib32", "libx32"):
        target = Path("/") / link
        if target.is_symlink():
            cmd += ["--symlink", os.readlink(target), f"/{link}"]
        elif target.is_dir():
            cmd += ["--ro-bind", str(target), f"/{link}"]
    # bubblewrap run by root would create /etc 0700: the kernel's user could read nothing in it
    cmd += ["--perms", "0755", "--dir", "/etc"]
    for name in ETC_FILES:
        if (Path("/etc") / name).exists():
            cmd += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    # the writable folders first: an environment below /tmp is bound on top of the new /tmp
    cmd += [
        "--size", str(limits.disk), "--perms", "1777", "--tmpfs", "/tmp",
        "--perms", "0755", "--dir", str(Path(WORKDIR).parent),
        "--size", str(limits.disk), "--perms", "0777", "--tmpfs", WORKDIR,
    ]  # fmt: skip
    fds, roots = [], _readable_roots()
    # bubblewrap run by root would create the folders above a bind mode 0700 (root only)
    parents = {a for r in roots for a in r.parents if a not in (Path("/"), Path("/tmp"))}
    for folder in sorted(parents, key=lambda p: len(p.parts)):
        cmd += ["--perms", "0755", "--dir", str(folder)]
    for root in roots:
        fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        fds.append(fd)
        cmd += ["--ro-bind-fd", str(fd), str(root)]
    filter_fd = _memfd("bnlab-seccomp", seccomp_filter())
    fds.append(filter_fd)
    cmd += [
        "--seccomp", str(filter_fd),
        "--proc", "/proc",
        "--dev", "/dev",
        "--chdir", WORKDIR,
        *_namespaces(),
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        "--setenv", "HOME", WORKDIR,
        "--setenv", "PATH", f"{Path(python()).parent}:/usr/bin:/bin",
        "--setenv", "LANG", "C.UTF-8",
        "--setenv", "MPLBACKEND", "Agg",
        "--setenv", "MPLCONFIGDIR", "/tmp/matplotlib",
        "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
        "--setenv", "OMP_NUM_THREADS", "1",
        "--setenv", "OPENBLAS_NUM_THREADS", "1",
        "--setenv", "MKL_NUM_THREADS", "1",
    ]  # fmt: skip
    # the options travel through a descriptor, so the sandbox's process 1 (bubblewrap's
    # reaper) shows the kernel nothing of the host's layout on its command line
    args_fd = _memfd("bnlab-bwrap-args", b"".join(a.encode() + b"\0" for a in cmd[1:]))
    fds.append(args_fd)
    return [bwrap, "--args", str(args_fd), "--"] + _drop_privileges() + list(argv), fds


def _memfd(name, data):
    """A descriptor of an anonymous file holding `data`, positioned at its start."""
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


#: x86-64 and aarch64: audit architecture and the numbers of the system calls the filter denies
_SYSCALLS = {
    "x86_64": (0xC000003E, {"add_key": 248, "request_key": 249, "keyctl": 250, "clone3": 435,
                            "unshare": 272, "clone": 56, "setsid": 112}),
    "aarch64": (0xC00000B7, {"add_key": 217, "request_key": 218, "keyctl": 219, "clone3": 435,
                             "unshare": 97, "clone": 220, "setsid": 157}),
}  # fmt: skip
_CLONE_NEWUSER = 0x10000000


def seccomp_filter(machine=None):
    """A classic BPF program for bubblewrap's ``--seccomp``: the kernel's keyrings are out of
    reach (``add_key``, ``keyctl`` and ``request_key`` fail with EPERM, so nothing a kernel
    stores survives it in a keyring another sandbox could read), no user namespace can be
    created (``clone`` or ``unshare`` with CLONE_NEWUSER: EPERM; ``clone3``, whose flags a
    filter cannot read: ENOSYS, and the C library falls back to ``clone``), no process opens a
    session of its own (``setsid``: EPERM; the scheduler gives every session of a process in the
    root CPU group an equal share, so sixty sessions would take sixty shares from a neighbour),
    and system calls of another ABI (x32, 32-bit) fail. Everything else is allowed."""
    machine = machine or os.uname().machine
    if machine not in _SYSCALLS:
        raise SandboxUnavailable(f"no system call filter for this machine ({machine})")
    arch, nr = _SYSCALLS[machine]
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, errno = 0x7FFF0000, 0x00050000
    eperm, enosys = errno | 1, errno | 38
    # (code, jump-if-true label, jump-if-false label, k); labels name instructions below
    prog = [
        ("arch", ld, None, None, 4),
        (None, jeq, None, "eperm", arch),
        (None, ld, None, None, 0),
        (None, jge, "eperm", None, 0x40000000),  # x32 system calls
        (None, jeq, "eperm", None, nr["add_key"]),
        (None, jeq, "eperm", None, nr["request_key"]),
        (None, jeq, "eperm", None, nr["keyctl"]),
        (None, jeq, "eperm", None, nr["setsid"]),
        (None, jeq, "enosys", None, nr["clone3"]),
        (None, jeq, "flags", None, nr["unshare"]),
        (None, jeq, "flags", None, nr["clone"]),
        ("allow", ret, None, None, allow),
        ("flags", ld, None, None, 16),  # the low 32 bits of the first argument
        (None, jset, "eperm", None, _CLONE_NEWUSER),
        (None, ret, None, None, allow),
        ("eperm", ret, None, None, eperm),
        ("enosys", ret, None, None, enosys),
    ]
    where = {label: i for i, (label, *_) in enumerate(prog) if label}
    out = b""
    for i, (_, code, jt, jf, k) in enumerate(prog):
        t = where[jt] - i - 1 if jt else 0
        f = where[jf] - i - 1 if jf else 0
        out += struct.pack("=HBBI", code, t, f, k)
    return out


def _namespaces():
    """Every namespace of its own. Run by an ordinary user, bubblewrap needs a user namespace
    (and then forbids nested ones); run by root, it mounts as root and the kernel drops to
    :data:`UNPRIVILEGED_USER` with `setpriv` before anything of the submission runs."""
    if os.geteuid() != 0:
        return ["--unshare-all", "--unshare-user", "--disable-userns"]
    return [
        "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
        "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
    ]  # fmt: skip


def _drop_privileges():
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise SandboxUnavailable("setpriv is missing (Debian: apt-get install util-linux)")
    user = pwd.getpwnam(UNPRIVILEGED_USER)
    return [
        setpriv, f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
        "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--",
    ]  # fmt: skip


# ------------------------------------------------------------------------------ cgroups


def _own_cgroup(controller):
    """The folder of this process's cgroup for `controller` (v1) or the unified one (v2)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            folder = Path("/sys/fs/cgroup") / controller / path.lstrip("/")
            if folder.is_dir():
                return folder, 1
    unified = Path("/sys/fs/cgroup")
    if (unified / "cgroup.controllers").exists():
        line = next(x for x in Path("/proc/self/cgroup").read_text().splitlines() if x[:3] == "0::")
        folder = unified / line[3:].lstrip("/")
        if controller in (folder / "cgroup.subtree_control").read_text().split():
            return folder, 2
    return None, None


class Cgroup:
    """A memory, process and CPU bound for the kernel and all its children together."""

    def __init__(self, limits):
        self.folders = []
        name = f"bnlab-grade-{uuid.uuid4().hex[:12]}"
        quota = max(1000, int(limits.cpus * 100_000))
        settings = {
            "memory": {
                1: {"memory.limit_in_bytes": limits.memory}, 2: {"memory.max": limits.memory},
            },
            "pids": {1: {"pids.max": limits.processes}, 2: {"pids.max": limits.processes}},
            # one scheduling group with a quota: sixty busy children (or sixty sessions of
            # their own, which the scheduler would otherwise weigh as sixty users) get the CPU
            # time of `limits.cpus` CPUs together, so a neighbour keeps its share
            "cpu": {
                1: {"cpu.cfs_period_us": 100_000, "cpu.cfs_quota_us": quota},
                2: {"cpu.max": f"{quota} 100000"},
            },
        }  # fmt: skip
        self.cpu = False
        try:
            for controller, by_version in settings.items():
                parent, version = _own_cgroup(controller)
                if parent is None and controller == "cpu":
                    break  # memory and processes are bounded; CPU is not (cpu_bounded says so)
                if parent is None:
                    raise OSError(f"no writable {controller} cgroup")
                self.cpu = controller == "cpu"
                folder = parent / name
                if folder not in self.folders:
                    folder.mkdir()
                    self.folders.append(folder)
                for key, value in by_version[version].items():
                    (folder / key).write_text(str(value))
                if version == 1 and controller == "memory":
                    swap = folder / "memory.memsw.limit_in_bytes"
                    if swap.exists():
                        swap.write_text(str(limits.memory))
        except OSError:
            self.close()
            raise

    def join(self):
        """Move the calling process into the cgroup (run in the child before exec)."""
        for folder in self.folders:
            (folder / "cgroup.procs").write_text(str(os.getpid()))

    def out_of_memory(self):
        """Whether the kernel's memory bound killed a process (cgroup v1 or v2 counters)."""
        for folder in self.folders:
            for name, key in (("memory.oom_control", "oom_kill"), ("memory.events", "oom_kill")):
                f = folder / name
                if f.exists():
                    for line in f.read_text().splitlines():
                        parts = line.split()
                        if len(parts) == 2 and parts[0] == key and int(parts[1]) > 0:
                            return True
        return False

    def close(self):
        for folder in self.folders:
            for _ in range(50):
                try:
                    folder.rmdir()
                    break
                except OSError:
                    import time

                    time.sleep(0.05)
        self.folders = []


@functools.lru_cache(maxsize=1)
def cpu_bounded():
    """How each sandbox here gets its share of the CPU, whatever its processes do: ``"cgroup"``
    (a CPU quota of its own, as root), ``"session"`` (the scheduler's automatic group per
    session: the sandbox is one session and its processes cannot open another), or None."""
    cgroup = cgroup_or_none(Limits())
    if cgroup is not None:
        try:
            if cgroup.cpu:
                return "cgroup"
        finally:
            cgroup.close()
    return "session" if _autogroup_applies() else None


def _autogroup_applies():
    """Whether the scheduler groups processes by session here: autogrouping is on and this
    process is in the root CPU cgroup (the only one it applies to)."""
    try:
        if Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() != "1":
            return False
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return False
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "cpu" in controllers.split(","):
            return path == "/"
    return any(line == "0::/" for line in lines)


def cgroup_or_none(limits):
    if os.geteuid() != 0:
        return None
    try:
        return Cgroup(limits)
    except OSError:
        return None


def preexec(limits, cgroup):
    """What the child does before it execs bubblewrap: join the cgroup (or, without one,
    limit its address space) and set the other resource limits."""

    def run():
        if cgroup is not None:
            cgroup.join()
            # the grader's own bound (course.grading.worker) is not the kernel's: lift it
            hard = resource.getrlimit(resource.RLIMIT_AS)[1]
            resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
        else:
            resource.setrlimit(resource.RLIMIT_AS, (limits.memory, limits.memory))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size, limits.file_size))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return run


def run_python(code, *, timeout=120):
    """Run `code` with the course's Python (``-I``) in a sandbox of its own, under the default
    `Limits`; return the completed process (text output) and whether a cgroup held it."""
    cmd, fds = command([python(), "-I", "-c", code])
    limits = Limits()
    cgroup = cgroup_or_none(limits)
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            pass_fds=fds,
            preexec_fn=preexec(limits, cgroup),
        )
    finally:
        for fd in fds:
            os.close(fd)
        if cgroup is not None:
            cgroup.close()
    return proc, cgroup is not None


@functools.lru_cache(maxsize=1)
def probe():
    """Start the sandbox once and check that the course's Python works inside it and that the
    course repository is invisible; raise :class:`SandboxUnavailable` with the reason if not."""
    from course.layout import COURSE

    hidden = COURSE.source
    code = (
        "import os, numpy, course.grading.kernel; "
        f"print('visible' if os.path.exists({str(hidden)!r}) else 'hidden')"
    )
    try:
        proc, in_cgroup = run_python(code)
    except (OSError, subprocess.SubprocessError) as exc:
        raise SandboxUnavailable(f"bubblewrap did not start: {exc}") from None
    if proc.returncode != 0:
        raise SandboxUnavailable(
            "bubblewrap did not start the course's Python (unprivileged user namespaces may be "
            f"disabled: sysctl kernel.unprivileged_userns_clone=1): {proc.stderr.strip()[-400:]}"
        )
    if proc.stdout.strip() != "hidden":
        raise SandboxUnavailable("the sandbox can see the course repository")
    return "cgroup" if in_cgroup else "rlimit"
