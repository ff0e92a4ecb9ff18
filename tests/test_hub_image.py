"""The course's single-user image (hub/image), tested inside it with podman.

The image is built by ``hub/image/build.sh`` (minutes, not part of ``make test``); these tests run
where podman and that image exist (BNLAB_IMAGE names another tag) and skip, saying why, elsewhere.
Every container runs with ``--network none``. Inside the image:

- a student's Jupyter kernel starts and imports bnlab and torch;
- the grading sandbox (bubblewrap) starts under the security settings that hub/values.yaml's
  pre_spawn hook gives the instructor's pod, translated to podman's flags (a pod's user namespace,
  ``hostUsers: false``, as a uid map of the container's own); and each setting the values relax is
  needed: put back to Kubernetes' default, the sandbox refuses to start (RuntimeDefault being
  containerd's and Docker's rules for namespaces, which podman's own default does not have);
- one submission is graded with the course's own command (``course.grading selfgrade``) under
  those settings, from the course folder mounted read-only where the instructor clones it.
"""

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import types
from pathlib import Path

import nbformat
import pytest
import yaml
from traitlets.config import Config

from course.layout import REPO_ROOT

VALUES = REPO_ROOT / "hub" / "values.yaml"
VERSION = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
IMAGE = os.environ.get("BNLAB_IMAGE") or f"localhost/bnlab-singleuser:{VERSION}"
COURSE_IN_POD = "/home/jovyan/course"  # where the instructor clones the course (admin guide)
# a user namespace of the container's own, as Kubernetes gives a pod with hostUsers: false
# (65536 ids mapped to unused host ids; /etc/subuid is not touched)
USERNS = ["--uidmap", "0:300000:65536", "--gidmap", "0:300000:65536"]

pytestmark = pytest.mark.hub


def _why_not():
    podman = shutil.which("podman")
    if podman is None:
        return "podman is not installed (apt-get install podman), so the image cannot run here"
    if os.geteuid() != 0:
        return "the image tests run podman as root (the uid maps of a pod's user namespace)"
    found = subprocess.run([podman, "image", "exists", IMAGE], capture_output=True)
    if found.returncode != 0:
        return f"image {IMAGE} not built here: run hub/image/build.sh (or set BNLAB_IMAGE)"
    return None


# where crun refuses this kernel's hybrid cgroups and containers may not raise rlimits (the
# machine these tests were written on), runc with lowered rlimits runs the same image
FALLBACK = ["--runtime", "runc", "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]


@pytest.fixture(scope="module")
def podman():
    """``podman run`` with the options this machine needs (BNLAB_PODMAN_OPTS, else none, else
    FALLBACK), as a command prefix."""
    reason = _why_not()
    if reason:
        pytest.skip(reason)
    base = [shutil.which("podman"), "run", "--rm", "--network", "none"]
    given = os.environ.get("BNLAB_PODMAN_OPTS")
    tries = [given.split()] if given is not None else [[], FALLBACK]
    errors = []
    for opts in tries:
        proc = subprocess.run([*base, *opts, IMAGE, "true"], capture_output=True, text=True)
        if proc.returncode == 0:
            return [*base, *opts]
        errors.append(f"{' '.join(opts) or 'no options'}: {proc.stderr.strip()[-300:]}")
    pytest.fail("podman cannot run a container of the image here; " + "; ".join(errors))


def run_in_image(podman, flags, argv, timeout=600):
    cmd = [*podman, *flags, IMAGE, *argv]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def instructor_pod(monkeypatch, tmp_path):
    """The instructor's container securityContext and pod settings, as the values' own
    pre_spawn hook (hub.extraConfig) sets them on a spawner (tests/test_hub_k8s.py runs the same
    hook inside KubeSpawner; here only the attributes it sets are read)."""
    values = yaml.safe_load(VALUES.read_text())
    roster = tmp_path / "roster.csv"
    roster.write_text(values["hub"]["extraFiles"]["roster"]["stringData"])
    monkeypatch.setenv("BNLAB_ROSTER", str(roster))
    c = Config()
    for name, snippet in values["hub"]["extraConfig"].items():
        exec(compile(snippet, f"hub.extraConfig.{name}", "exec"), {"c": c})
    instructor = sorted(c.Authenticator.admin_users)[0]
    spawner = types.SimpleNamespace(
        user=types.SimpleNamespace(name=instructor), environment={}, init_containers=[]
    )
    c.KubeSpawner.pre_spawn_hook(spawner)
    return spawner.container_security_context, getattr(spawner, "extra_pod_config", {})


def podman_flags(security, pod, runtime_default=None):
    """podman's flags for a Kubernetes container securityContext and the pod's hostUsers; a key
    this does not know is an error (the test must follow the values, not guess)."""
    flags = []
    known = {
        "runAsUser",
        "runAsGroup",
        "runAsNonRoot",
        "allowPrivilegeEscalation",
        "capabilities",
        "seccompProfile",
        "appArmorProfile",
        "procMount",
    }
    unknown = set(security) - known
    assert not unknown, f"securityContext keys without a podman translation: {unknown}"
    assert set(pod) <= {"hostUsers"}, f"pod settings without a podman translation: {pod}"
    uid, gid = security["runAsUser"], security.get("runAsGroup", security["runAsUser"])
    assert not (security.get("runAsNonRoot") and uid == 0)
    flags += ["--user", f"{uid}:{gid}"]
    if security.get("allowPrivilegeEscalation") is False:
        flags += ["--security-opt", "no-new-privileges"]
    caps = security.get("capabilities", {})
    flags += [f"--cap-drop={c}" for c in caps.get("drop", [])]
    flags += [f"--cap-add={c}" for c in caps.get("add", [])]
    seccomp = security.get("seccompProfile", {"type": "RuntimeDefault"})["type"]
    assert seccomp in ("Unconfined", "RuntimeDefault"), seccomp
    if seccomp == "Unconfined":
        flags += ["--security-opt", "seccomp=unconfined"]
    elif runtime_default is not None:
        flags += ["--security-opt", f"seccomp={runtime_default}"]
    apparmor = security.get("appArmorProfile", {"type": "RuntimeDefault"})["type"]
    assert apparmor in ("Unconfined", "RuntimeDefault"), apparmor
    if apparmor == "Unconfined":
        flags += ["--security-opt", "apparmor=unconfined"]
    proc = security.get("procMount", "Default")
    assert proc in ("Unmasked", "Default"), proc
    if proc == "Unmasked":
        flags += ["--security-opt", "unmask=ALL"]
    if pod.get("hostUsers") is False:
        flags += USERNS
    # the pod's home: a volume the pod's uid owns (fsGroup); here an empty one for the run
    flags += ["--tmpfs", "/home/jovyan:rw,mode=1777", "--env", "HOME=/home/jovyan"]
    return flags


KERNEL = """
import json, time
from jupyter_client.manager import start_new_kernel
t = time.monotonic()
km, kc = start_new_kernel(kernel_name="python3", startup_timeout=300)
ready = time.monotonic() - t
out = []
def hook(msg):
    if msg["msg_type"] == "stream":
        out.append(msg["content"]["text"])
code = "import bnlab, torch; print(bnlab.__name__, torch.__version__, torch.ones(3).sum().item())"
reply = kc.execute_interactive(code, timeout=300, output_hook=hook)
kc.stop_channels(); km.shutdown_kernel(now=True)
print(json.dumps({"ready": ready, "status": reply["content"]["status"], "out": "".join(out)}))
"""


def test_a_students_kernel_starts_and_imports_bnlab_and_torch(podman):
    # a student's pod: the roster's uid (no account in the image), every capability dropped
    flags = ["--user", "20001:20001", "--cap-drop=ALL", "--security-opt", "no-new-privileges"]
    flags += ["--tmpfs", "/home/jovyan:rw,mode=1777", "--env", "HOME=/home/jovyan"]
    proc = run_in_image(podman, flags, ["python", "-c", KERNEL])
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["status"] == "ok", result
    pins = dict(line.split("==") for line in (REPO_ROOT / "requirements.txt").read_text().split())
    assert result["out"].split() == ["bnlab", f"{pins['torch']}+cpu", "3.0"], result


def test_the_image_is_the_pinned_environment_with_a_non_root_user(podman):
    code = (
        "import importlib.metadata as m, json, os, sys; "
        "print(json.dumps({'python': sys.version.split()[0], 'uid': os.getuid(), "
        "'dists': {d.metadata['Name'].lower(): d.version for d in m.distributions()}}))"
    )
    proc = run_in_image(podman, [], ["python", "-c", code])
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout)
    assert got["uid"] == 1000 and got["python"].startswith("3.11.")
    pins = {}
    for req in ("requirements.txt", "hub/requirements.txt"):
        for line in (REPO_ROOT / req).read_text().splitlines():
            if "==" in line and not line.startswith("#"):
                name, version = line.split("==")
                pins[name.strip().lower().replace("_", "-")] = version.strip()
    dists = {k.replace("_", "-"): v.split("+")[0] for k, v in got["dists"].items()}
    wrong = {n: (v, dists.get(n)) for n, v in pins.items() if dists.get(n) != v}
    assert not wrong, f"pins (wanted, in the image): {wrong}"
    assert "bnlab" in dists  # the course package, installed as a copy
    # nbgrader's student extensions on, Formgrader off for everyone (the instructor's pod
    # turns it on with its own configuration)
    proc = run_in_image(podman, [], ["jupyter", "server", "extension", "list"])
    listing = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)  # no colours
    for ext in ("assignment_list", "course_list", "validate_assignment"):
        assert f"nbgrader.server_extensions.{ext} enabled" in listing, listing
    assert "nbgrader.server_extensions.formgrader disabled" in listing, listing
    proc = run_in_image(podman, [], ["bwrap", "--version"])
    assert proc.returncode == 0 and proc.stdout.startswith("bubblewrap"), proc.stderr


def test_the_sandbox_starts_under_the_instructors_pod_settings(podman, monkeypatch, tmp_path):
    security, pod = instructor_pod(monkeypatch, tmp_path)
    flags = podman_flags(security, pod)
    proc = run_in_image(podman, flags, ["python", "-m", "course.grading", "check-sandbox"])
    assert proc.returncode == 0, proc.stdout + proc.stderr


# CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
CLONE_NEW_ANY = 0x7E020000


def runtime_default_seccomp(tmp_path):
    """Kubernetes' RuntimeDefault as containerd and Docker define it for namespaces: without
    CAP_SYS_ADMIN no unshare, setns or mount, clone only without a CLONE_NEW* flag, and clone3
    answered ENOSYS. podman's own default profile allows all of these, so it cannot stand for
    RuntimeDefault here: this is podman's profile with those rules put back."""
    profile = json.loads(Path("/usr/share/containers/seccomp.json").read_text())
    ns = {"clone", "clone3", "unshare", "setns", "mount"}
    for rule in profile["syscalls"]:
        if rule["action"] == "SCMP_ACT_ALLOW" and not rule.get("includes", {}).get("caps"):
            rule["names"] = [n for n in rule["names"] if n not in ns]
    profile["syscalls"] += [
        {
            "names": ["clone"],
            "action": "SCMP_ACT_ALLOW",
            "args": [
                {"index": 0, "value": CLONE_NEW_ANY, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}
            ],
        },
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
    ]
    profile["defaultErrnoRet"] = 1  # EPERM, as Docker's (podman's answers ENOSYS)
    path = tmp_path / "runtime-default.json"
    path.write_text(json.dumps(profile))
    return path


@pytest.mark.parametrize(
    "setting, default",
    [("seccompProfile", {"type": "RuntimeDefault"}), ("procMount", "Default")],
)
def test_each_relaxed_setting_is_needed(podman, monkeypatch, tmp_path, setting, default):
    """Each relaxation of the instructor's pod, put back to Kubernetes' default, stops the
    sandbox. (hostUsers: false is not tested here: the kernel does not need it, Kubernetes asks
    for it before it grants procMount: Unmasked.)"""
    security, pod = instructor_pod(monkeypatch, tmp_path)
    assert security.get(setting) not in (None, default)
    security = {**copy.deepcopy(security), setting: default}
    flags = podman_flags(security, pod, runtime_default_seccomp(tmp_path))
    proc = run_in_image(podman, flags, ["python", "-m", "course.grading", "check-sandbox"])
    assert proc.returncode != 0, f"the sandbox started without {setting}: {proc.stdout}"
    assert "bubblewrap" in proc.stdout + proc.stderr


def test_the_runtime_default_profile_lets_the_sandbox_start_where_unconfined(
    podman, monkeypatch, tmp_path
):
    """The control of the test above: the same profile file, with the namespace rules of podman's
    own default, starts the sandbox (what stops it above is those rules, not the file)."""
    security, pod = instructor_pod(monkeypatch, tmp_path)
    security = {**copy.deepcopy(security), "seccompProfile": {"type": "RuntimeDefault"}}
    flags = podman_flags(security, pod, "/usr/share/containers/seccomp.json")
    proc = run_in_image(podman, flags, ["python", "-m", "course.grading", "check-sandbox"])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_values_run_the_image_build_sh_tags():
    """Runs everywhere: the values' image (and its init container's) carry the tag build.sh gives
    (bnlab's version), so a rebuilt image after a version bump is a change in the values too."""
    su = yaml.safe_load(VALUES.read_text())["singleuser"]
    assert su["image"]["tag"] == VERSION
    image = f"{su['image']['name']}:{su['image']['tag']}"
    assert {c["image"] for c in su["initContainers"]} == {image}
    assert su["image"]["name"].endswith("/bnlab-singleuser")


def test_the_init_container_sets_the_exchange_modes_in_the_image(podman, tmp_path):
    """The values' init container, run by the image as root (as the pod runs it) on an empty
    exchange volume, leaves the owners and modes of hub/setup-exchange.sh's table."""
    values = yaml.safe_load(VALUES.read_text())
    (init,) = values["singleuser"]["initContainers"]
    mount = init["volumeMounts"][0]["mountPath"]
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    flags = ["--user", "0:0", "--volume", f"{exchange}:{mount}", "--env"]
    flags += ["BNLAB_INSTRUCTOR_UID=20000", "--entrypoint", init["command"][0]]
    proc = run_in_image(podman, flags, init["command"][1:])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    course = exchange / "bn-course"
    got = {
        p.relative_to(exchange).as_posix(): (p.stat().st_uid, oct(p.stat().st_mode & 0o7777))
        for p in [exchange, course, *sorted(course.iterdir())]
    }
    assert got == {
        ".": (0, "0o1777"),
        "bn-course": (20000, "0o755"),
        "bn-course/feedback": (20000, "0o711"),
        "bn-course/inbound": (20000, "0o1733"),
        "bn-course/outbound": (20000, "0o755"),
    }
    # a course folder of somebody else's stops the pod
    os.chown(course, 20001, 20001)
    proc = run_in_image(podman, flags, init["command"][1:])
    assert proc.returncode != 0 and "not the instructor" in proc.stderr, proc.stderr


@pytest.mark.grading
def test_one_submission_graded_inside_the_image(podman, monkeypatch, tmp_path):
    """Parts A and B answered with the reference, part C left blank: 2 + 4 of 16 points (the
    same figures as tests/grading/test_main.py's selfgrade test, outside the image)."""
    ps = "ps1_moments"
    release = nbformat.read(REPO_ROOT / "exercises" / ps / "moments.ipynb", 4)
    source = nbformat.read(REPO_ROOT / "solutions" / ps / "moments.ipynb", 4)
    answers = {c.id: c.source for c in source.cells}
    for cell in release.cells:
        if cell.get("id") in {"expectation", "two_pass_var"}:
            cell.source = answers[cell.id]
    work = tmp_path / "submission"
    work.mkdir()
    nbformat.write(release, work / "moments.ipynb")
    work.chmod(0o755)
    (work / "moments.ipynb").chmod(0o644)
    security, pod = instructor_pod(monkeypatch, tmp_path)
    flags = podman_flags(security, pod)
    flags += ["--volume", f"{REPO_ROOT}:{COURSE_IN_POD}:ro", "--volume", f"{work}:/submission:ro"]
    # the course tooling of the instructor's clone, run by the image's environment
    flags += ["--workdir", COURSE_IN_POD, "--env", f"PYTHONPATH={COURSE_IN_POD}/src"]
    argv = ["python", "-m", "course.grading", "selfgrade", "/submission/moments.ipynb"]
    proc = run_in_image(podman, flags, argv)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "2.0 /  2.0  moments: Part A" in out and "4.0 /  4.0  moments: Part B" in out, out
    assert "0.0 /  3.0  moments: Part C" in out and "6.0 / 16.0  total" in out, out


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-rs"]))
