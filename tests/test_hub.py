"""A class round with real Linux users, as the admin page and the instructor guide describe it.

Two rounds of problem set 3 for an instructor and two students (alice and bob), each a Linux user
with a home, a cache and an identity of their own:

1. on one machine, every command of the instructor guide's round run verbatim, read from the
   guide's bash blocks: the instructor's as the instructor in the course folder, the students' as
   each student in their home folder, with the shared environment on ``PATH``;
2. through a real JupyterHub (``hub/jupyterhub_config.py``; JupyterHub from PyPI and
   configurable-http-proxy from npm, installed into a throwaway folder) on 127.0.0.1: every user,
   the instructor too, logs in through the hub's login form (its ``_xsrf`` token and cookies, as
   a browser sends them), keeps that cookie session and starts their server from the hub's spawn
   page; the students fetch, submit and fetch feedback through their own servers' nbgrader API
   (what JupyterLab's Assignments tab calls, with the cookies and ``X-XSRFToken`` header that
   JupyterLab sends); alice forges two submissions in bob's name (one dated 2099), which the
   instructor's collect from Formgrader, and then from the command line, refuses; the rest of
   the instructor's commands run on the command line. No request uses an API token.

Both assert the scores and what a student cannot do to the course, the exchange or another
student. The machine is set up with the shipped scripts (``hub/make-env.sh``,
``hub/setup-exchange.sh``) in a throwaway folder, never in ``/opt`` or ``/etc``. It needs root
(it creates and at the end deletes the users), Debian's Python 3.11 and npm; ``make test-hub``
runs it (4 to 8 minutes, most of it building the two environments; too long for `make test`),
anything else skips it with the reason.
"""

import contextlib
import copy
import csv
import fcntl
import grp
import json
import math
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
import requests
import yaml

from course import layout
from course.layout import REPO_ROOT

A, NB = "ps3_bn_forward", "bn_forward.ipynb"
INSTRUCTOR = "bnl-instructor"
STUDENTS = ("alice", "bob")
USERS = (INSTRUCTOR, *STUDENTS)
GROUP = "bnl-class"  # the hub's BNLAB_CLASS_GROUP
MARK = "bnlab class-round test user"  # GECOS of the users this test made (and may delete)
PYTHON = "/usr/bin/python3"  # Debian's, as the admin page uses it
POINTS = 15.0  # problem set 3
EXPECTED = {"alice": POINTS, "bob": 6.0}  # complete solutions; parts A (3) and D (3) only
GUIDE = REPO_ROOT / "pages" / "instructor_guide.md"
ROLES = {"# the instructor": "instructor", "# each student": "student"}  # a block's first line
LOCK = Path(tempfile.gettempdir()) / "bnlab-test-hub.lock"


def _why_not():
    if os.environ.get("BNLAB_TEST_HUB") != "1":
        return "the class round with Linux users runs in `make test-hub` (BNLAB_TEST_HUB=1)"
    if os.geteuid() != 0:
        return "needs root: it creates and deletes the Linux users " + ", ".join(USERS)
    for tool in ("useradd", "userdel", "groupadd", "gpasswd", "runuser", "npm", "make", "git"):
        if not shutil.which(tool):
            return f"{tool} not found"
    if not Path(PYTHON).is_file():
        return f"{PYTHON} not found: the shared environment is built with Debian's Python"
    for user in USERS:
        with contextlib.suppress(KeyError):
            if pwd.getpwnam(user).pw_gecos != MARK:
                return f"a Linux user {user} exists that this test did not make"
    return None


pytestmark = pytest.mark.hub


def guide_round():
    """``[(role, [command, ...]), ...]``: the bash blocks of the guide's 'A grading round'."""
    section = GUIDE.read_text().split("## A grading round", 1)[1].split("\n## ", 1)[0]
    blocks = []
    for block in re.findall(r"```bash\n(.*?)```", section, re.S):
        first, *lines = block.strip().splitlines()
        role = next(r for p, r in ROLES.items() if first.startswith(p))
        blocks.append((role, lines))
    return blocks


def fill(release, source, ids):
    """The release notebook with the cells `ids` (or all) copied from the source."""
    nb = copy.deepcopy(release)
    sols = {c.id: c.source for c in source.cells}
    for cell in nb.cells:
        if ids is None or cell.get("id") in ids:
            cell.source = sols.get(cell.id, cell.source)
    return nb


def work(course):
    """What each student hands in: alice everything, bob parts A and D."""
    source = nbformat.read(course / "solutions" / A / NB, 4)
    release = nbformat.read(course / "exercises" / A / NB, 4)
    return {
        "alice": fill(release, source, None),
        "bob": fill(release, source, {"normalize", "mean_square"}),
    }


class Machine:
    """The throwaway class machine: shared environment, users, the instructor's course clone."""

    def __init__(self, base):
        self.base = base
        self.env = base / "env"
        self.home = {u: Path(pwd.getpwnam(u).pw_dir) for u in USERS}
        self.course = self.home[INSTRUCTOR] / "course"
        self.exchange = None

    def run(self, user, command, cwd=None, env=(), timeout=900):
        """`command` in bash as `user`, with a clean environment as a login would give it."""
        home = self.home[user]
        path = f"{self.env}/bin:/usr/local/bin:/usr/bin:/bin"
        base = {"HOME": home, "USER": user, "LOGNAME": user, "PATH": path, "LANG": "C.UTF-8"}
        base.update({"OMP_NUM_THREADS": "1", **dict(env)})
        result = subprocess.run(
            ["runuser", "-u", user, "--", "env", "-i", *(f"{k}={v}" for k, v in base.items())]
            + ["bash", "-c", f"cd {cwd or home} && {command}"],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, f"{user}$ {command}\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def instructor(self, command):
        env = {"BNLAB_EXCHANGE": self.exchange}
        return self.run(INSTRUCTOR, f"source .venv/bin/activate && {command}", self.course, env)

    def setup_exchange(self, name):
        """A fresh exchange by the admin page's script; the state of an earlier round removed."""
        self.exchange = self.base / name
        subprocess.run(
            [REPO_ROOT / "hub" / "setup-exchange.sh", INSTRUCTOR, self.course, self.exchange],
            env={**os.environ, "PREFIX": str(self.env)},
            check=True,
            capture_output=True,
        )
        for state in ("gradebook.db", "submitted", "autograded", "feedback", "grades.csv"):
            path = self.course / state
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
        for s in STUDENTS:
            shutil.rmtree(self.home[s] / A, ignore_errors=True)
            shutil.rmtree(self.home[s] / ".local/share/jupyter/nbgrader_cache", ignore_errors=True)

    def grades(self):
        with open(self.course / "grades.csv") as f:
            return {
                r["student_id"]: float(r["score"])
                for r in csv.DictReader(f)
                if r["assignment"] == A
            }

    def probe(self, user, checks):
        """Run each ``name: python statement`` as `user`; ``{name: error class or 'ok'}``."""
        code = "import json, os\nout = {}\n"
        for name, stmt in checks.items():
            code += f"try:\n    {stmt}\n    out[{name!r}] = 'ok'\n"
            code += f"except OSError as e:\n    out[{name!r}] = type(e).__name__\n"
        code += "print(json.dumps(out))"
        script = self.base / f"probe-{secrets.token_hex(4)}.py"
        script.write_text(code)
        script.chmod(0o644)
        return json.loads(self.run(user, f"python {script}"))


def _users_processes(user):
    out = subprocess.run(["pgrep", "-u", user], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _delete_users(users=USERS, group=GROUP):
    for user in users:
        with contextlib.suppress(KeyError):
            if pwd.getpwnam(user).pw_gecos != MARK:
                continue
            for pid in _users_processes(user):  # only the users this test made
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            subprocess.run(["userdel", "-r", user], capture_output=True)
    if group:
        subprocess.run(["groupdel", group], capture_output=True)


@pytest.fixture(scope="module")
def machine():
    reason = _why_not()
    if reason:
        pytest.skip(reason)
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one class machine at a time on this host
        base = Path(tempfile.mkdtemp(prefix="bnlab-hub-"))
        base.chmod(0o755)
        try:
            _delete_users()  # left over by an interrupted run
            subprocess.run(["groupadd", GROUP], check=True)
            for user in USERS:
                groups = ["-G", GROUP] if user in STUDENTS else []
                subprocess.run(["useradd", "-m", "-s", "/bin/bash", "-c", MARK, *groups, user],
                               check=True)  # fmt: skip
                Path(pwd.getpwnam(user).pw_dir).chmod(0o700)  # as Debian's adduser makes it
            m = Machine(base)
            subprocess.run(
                [REPO_ROOT / "hub" / "make-env.sh", m.env],
                env={**os.environ, "PYTHON": PYTHON},
                check=True,
                capture_output=True,
            )
            # the instructor's clone: the course's tracked files as they are now
            files = (
                subprocess.run(
                    ["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True
                )
                .stdout.decode()
                .split("\0")
            )
            for f in filter(None, files):
                if (REPO_ROOT / f).is_file():
                    (m.course / f).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(REPO_ROOT / f, m.course / f)
            subprocess.run(["chown", "-R", f"{INSTRUCTOR}:", m.course], check=True)
            m.run(INSTRUCTOR, f"make venv PYTHON={PYTHON}", m.course)
            yield m
        finally:
            _delete_users()
            shutil.rmtree(base, ignore_errors=True)


class TestTheGuideAndTheConfiguration:
    """Fast checks, run everywhere: what the round tests read and what they rely on."""

    def test_the_guide_has_the_round_in_blocks_by_role(self):
        roles = [role for role, _ in guide_round()]
        assert roles.count("instructor") >= 3 and roles.count("student") >= 3

    def test_students_never_type_the_course_id_or_the_exchange(self):
        for role, lines in guide_round():
            for line in lines:
                assert line.startswith(("nbgrader ", ".venv/bin/python -m course.grading ")), line
                if role == "student":
                    assert "--course" not in line and "--Exchange" not in line, line

    def test_the_course_id_is_set_in_one_place(self):
        """course.layout sets it; the shipped configurations read it, except values.yaml, which
        cannot import it and must agree."""
        shipped = [*(REPO_ROOT / "hub").glob("*.py"), *(REPO_ROOT / "hub").glob("*.sh")]
        shipped += [*(REPO_ROOT / "src").rglob("*.py"), REPO_ROOT / "nbgrader_config.py"]
        literal = [p for p in shipped if layout.COURSE_ID in p.read_text()]
        assert literal == [REPO_ROOT / "src" / "course" / "layout.py"]
        values = (REPO_ROOT / "hub" / "values.yaml").read_text()
        assert re.findall(r'course_id = "([^"]+)"', values) == [layout.COURSE_ID]


def test_the_admin_guide_clones_the_instructors_repository_not_the_release():
    """The instructor's course holds solutions/ and grades; the public release (the repository
    that _config.yml names) has neither, so the admin guide must not clone it."""
    guide = (REPO_ROOT / "pages" / "admin_guide.md").read_text()
    public = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())["repository"]["url"]
    clones = [line for line in guide.splitlines() if "git clone" in line]
    assert clones
    for line in clones:
        assert public.removesuffix(".git") not in line, line
    assert "deploy key" in guide


def assert_students_kept_apart(m):
    """What the admin page promises: a student reaches neither the course nor another student."""
    course_id = layout.COURSE_ID
    inbound = m.exchange / course_id / "inbound"
    alices = next(p for p in inbound.iterdir() if p.name.startswith("alice+"))
    got = m.probe(
        "bob",
        {
            "read the course": f"os.listdir({str(m.course)!r})",
            "read alice's home": f"os.listdir({str(m.home['alice'])!r})",
            "read solutions": f"open({str(m.course / 'solutions' / A / NB)!r}).read()",
            "list inbound": f"os.listdir({str(inbound)!r})",
            "rename the course folder": f"os.rename({str(m.exchange / course_id)!r}, "
            f"{str(m.exchange / 'hijacked')!r})",
            "write into alice's submission": f"open({str(alices / 'planted.txt')!r}, 'w')",
            "write into alice's collected submission": "open("
            f"{str(m.course / 'submitted' / 'alice' / A / 'planted.txt')!r}, 'w')",
            "create a course folder": f"os.mkdir({str(m.exchange / course_id)!r})",
        },
    )
    assert got == {
        "read the course": "PermissionError",
        "read alice's home": "PermissionError",
        "read solutions": "PermissionError",
        "list inbound": "PermissionError",
        "rename the course folder": "PermissionError",
        "write into alice's submission": "PermissionError",
        "write into alice's collected submission": "PermissionError",
        "create a course folder": "FileExistsError",
    }
    for folder, _, files in os.walk(m.course / "submitted"):
        for path in [folder, *(os.path.join(folder, f) for f in files)]:
            assert not os.stat(path).st_mode & 0o022, f"{path} is group- or world-writable"


def assert_own_feedback(m):
    """Each student fetched exactly one feedback file: their own (fetch_feedback for alice must
    not deliver bob's)."""
    pages = {}
    for s in STUDENTS:
        found = sorted((m.home[s] / A / "feedback").rglob("*.html"))
        assert len(found) == 1, (s, found)
        pages[s] = found[0].read_text()
    for s, page in pages.items():
        score = f"{EXPECTED[s]:g}"
        assert re.search(rf"Score:\s*{score}", page) or f">{score}<" in page, (s, score)
    assert pages["alice"] != pages["bob"]


def test_one_machine_round_runs_the_guide_verbatim(machine):
    m = machine
    m.setup_exchange("exchange-cli")
    notebooks = None
    blocks = guide_round()
    assert [r for r, _ in blocks].count("student") >= 3, "the guide's students' blocks are gone"
    for role, lines in blocks:
        for line in lines:
            if role == "instructor":
                m.instructor(line)
            else:
                for s in STUDENTS:
                    m.run(s, line)
        if role == "student" and any("fetch_assignment" in line for line in lines):
            notebooks = work(m.course)
            for s, nb in notebooks.items():
                path = m.home[s] / A / NB
                nbformat.write(nb, path)
                shutil.chown(path, s)
    assert notebooks, "the guide's round has no fetch_assignment"
    assert m.grades() == EXPECTED
    assert_own_feedback(m)
    assert_students_kept_apart(m)


# ---------------------------------------------------------------------------- the hub round


def _free_ports(n):
    """A first port of `n` consecutive ports that are free on 127.0.0.1."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            first = s.getsockname()[1]
        if first + n < 65536 and all(_port_free(first + i) for i in range(n)):
            return first
    raise RuntimeError("no free ports")


def _port_free(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


class Browser:
    """One person's browser: a cookie jar, the login form, the hub's spawn page, and the requests
    JupyterLab sends to the user's server (its cookies, and the ``_xsrf`` cookie as the
    ``X-XSRFToken`` header on every request that is not a GET). It never holds an API token."""

    def __init__(self, url, user):
        self.url, self.user = url, user
        self.session = requests.Session()

    def login(self, password):
        """Fill in and send the login form; the HTTP status (302: logged in)."""
        form = self.session.get(f"{self.url}/hub/login", timeout=60)
        assert form.status_code == 200, form.status_code
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', form.text).group(1)
        data = {"username": self.user, "password": password, "_xsrf": xsrf}
        r = self.session.post(f"{self.url}/hub/login", data=data, allow_redirects=False, timeout=60)
        return r.status_code

    def xsrf(self, path):
        """The ``_xsrf`` cookie that the browser sends to `path` (the one of the longest path)."""
        found = [c for c in self.session.cookies if c.name == "_xsrf" and path.startswith(c.path)]
        assert found, f"no _xsrf cookie for {path}: {[c.path for c in self.session.cookies]}"
        return max(found, key=lambda c: len(c.path)).value

    def request(self, method, path, **kw):
        headers = kw.pop("headers", {})
        if method.lower() != "get":
            headers["X-XSRFToken"] = self.xsrf(path)
        timeout = kw.pop("timeout", 300)
        return self.session.request(
            method, f"{self.url}{path}", headers=headers, timeout=timeout, **kw
        )

    def spawn(self):
        """Open the hub's spawn page, as the home page's Start button does (with no options
        form, the GET starts the server)."""
        r = self.session.get(f"{self.url}/hub/spawn/{self.user}", timeout=300)
        assert r.status_code == 200, (self.user, r.status_code, r.text[:1000])

    def server_ready(self):
        """Whether the user's JupyterLab answers, the OAuth redirects followed as a browser
        follows them; the first answer also sets the server's ``_xsrf`` cookie."""
        r = self.session.get(f"{self.url}/user/{self.user}/lab", timeout=60)
        return r.status_code == 200 and r.url.startswith(f"{self.url}/user/{self.user}/")

    def server(self, method, path, **kw):
        return self.request(method, f"/user/{self.user}{path}", **kw)

    def nbgrader(self, action):
        """What the Assignments tab does: POST /assignments/<action> on the user's server."""
        data = {"course_id": layout.COURSE_ID, "assignment_id": A}
        r = self.server("post", f"/assignments/{action}", data=data)
        assert r.ok and r.json()["success"], (self.user, action, r.status_code, r.text[:2000])

    def stop_server(self):
        """The home page's Stop My Server button."""
        return self.request("delete", f"/hub/api/users/{self.user}/server", timeout=120)

    def server_stopped(self):
        r = self.request("get", f"/hub/api/users/{self.user}", timeout=60)
        return r.ok and not r.json()["servers"]


class Hub:
    """A JupyterHub started from hub/jupyterhub_config.py on free ports of 127.0.0.1. Nobody
    holds an API token: every user acts through their own browser session."""

    def __init__(self, m):
        self.m = m
        self.dir = Path(tempfile.mkdtemp(prefix="hub-", dir=m.base))  # mode 700
        subprocess.run(
            ["npm", "install", "--prefix", self.dir / "proxy", "--no-audit", "--no-fund"]
            + ["--loglevel=error", "configurable-http-proxy@4"],
            check=True,
            capture_output=True,
        )
        self.port = _free_ports(3)
        self.url = f"http://127.0.0.1:{self.port}"
        # this machine's exchange is not the default one: the admin page says to set
        # BNLAB_EXCHANGE for the instructor, here in their server (for Formgrader's collect)
        (self.dir / "jupyterhub_config.py").write_text(
            f"load_subconfig({str(REPO_ROOT / 'hub' / 'jupyterhub_config.py')!r})\n"
            "c.ConfigurableHTTPProxy.command = "
            f"[{str(self.dir / 'proxy/node_modules/.bin/configurable-http-proxy')!r}]\n"
            "c.Spawner.environment = {**c.Spawner.environment, "
            f"'BNLAB_EXCHANGE': {str(m.exchange)!r}}}\n"
        )
        env = {
            **os.environ,
            "BNLAB_ENV": str(m.env),
            "BNLAB_HUB_STATE": str(self.dir),
            "BNLAB_HUB_PORT": str(self.port),
            "BNLAB_INSTRUCTORS": INSTRUCTOR,
            "BNLAB_CLASS_GROUP": GROUP,
        }
        self.log = open(self.dir / "jupyterhub.log", "w")
        self.process = subprocess.Popen(
            [m.env / "bin" / "jupyterhub", "-f", self.dir / "jupyterhub_config.py"],
            cwd=self.dir,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.browsers = {}
        self.wait(lambda: requests.get(f"{self.url}/hub/login", timeout=10).ok, "the login page")

    def wait(self, ready, what, timeout=180):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            assert self.process.poll() is None, f"the hub exited:\n{self.logs()}"
            with contextlib.suppress(requests.ConnectionError):
                if ready():
                    return
            time.sleep(0.5)
        raise AssertionError(f"{what} not ready after {timeout} s:\n{self.logs()}")

    def logs(self):
        return (self.dir / "jupyterhub.log").read_text()[-5000:]

    def login(self, user, password):
        """A fresh browser sends the login form; the HTTP status. A browser that logged in is
        kept as ``self.browsers[user]``."""
        browser = Browser(self.url, user)
        status = browser.login(password)
        if status == 302:
            self.browsers[user] = browser
        return status

    def start_servers(self):
        for browser in self.browsers.values():
            browser.spawn()
        for user, browser in self.browsers.items():
            self.wait(browser.server_ready, f"{user}'s server", 300)

    def stop(self):
        with contextlib.suppress(requests.RequestException, AssertionError):
            for browser in self.browsers.values():
                browser.stop_server()
            for user, browser in self.browsers.items():
                self.wait(browser.server_stopped, f"{user}'s server to stop", 60)
        if self.process.poll() is None:
            # the hub stops what servers are left, then its proxy
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


def forge(m, forger, victim, stamp, notebook):
    """`forger`, with their own uid, hands `notebook` in as `victim`'s straight into inbound/
    (which anyone may add to), with `stamp` in the name and in timestamp.txt as nbgrader submit
    writes them; the entry's path."""
    inbound = m.exchange / layout.COURSE_ID / "inbound"
    draft = m.base / f"forged-{secrets.token_hex(4)}.ipynb"
    nbformat.write(notebook, draft)
    draft.chmod(0o644)
    code = (
        "import os, shutil, sys\n"
        "folder = os.path.join(sys.argv[1], sys.argv[2])\n"
        "os.mkdir(folder)\n"
        f"shutil.copy(sys.argv[3], os.path.join(folder, {NB!r}))\n"
        "open(os.path.join(folder, 'timestamp.txt'), 'w').write(sys.argv[4])\n"
    )
    script = m.base / f"forge-{secrets.token_hex(4)}.py"
    script.write_text(code)
    script.chmod(0o644)
    name = f"{victim}+{A}+{stamp}+{secrets.token_hex(4)}"
    m.run(forger, f"python {script} '{inbound}' '{name}' '{draft}' '{stamp}'")
    assert (inbound / name).stat().st_uid == pwd.getpwnam(forger).pw_uid
    return inbound / name


def _tree(folder):
    """``{relative path: bytes}`` of the files under `folder`."""
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_alice_cannot_touch_bobs_entry(m, entry):
    """alice, knowing the name of bob's inbound entry, can neither move, delete nor change it."""
    before = _tree(entry)
    moved = entry.parent / f"bob+{A}+2000-01-01 00:00:00.000000 UTC+moved"
    got = m.probe(
        "alice",
        {
            "rename bob's entry": f"os.rename({str(entry)!r}, {str(moved)!r})",
            "delete bob's entry": f"__import__('shutil').rmtree({str(entry)!r})",
            "delete bob's notebook": f"os.unlink({str(entry / NB)!r})",
            "append to bob's notebook": f"open({str(entry / NB)!r}, 'a')",
            "append to bob's timestamp": f"open({str(entry / 'timestamp.txt')!r}, 'a')",
            "add a file to bob's entry": f"open({str(entry / 'planted.txt')!r}, 'w')",
        },
    )
    assert got == dict.fromkeys(got, "PermissionError"), got
    assert _tree(entry) == before and not moved.exists()


def test_hub_round_through_the_login_form_and_the_users_sessions(machine):
    m = machine
    m.setup_exchange("exchange-hub")
    hub = Hub(m)
    try:
        password = secrets.token_urlsafe(12)
        subprocess.run(
            ["chpasswd"], input="".join(f"{u}:{password}\n" for u in USERS), text=True, check=True
        )
        assert INSTRUCTOR not in grp.getgrnam(GROUP).gr_mem  # an admin, not in the class group
        assert hub.login(INSTRUCTOR, "not-" + password) == 403
        assert hub.login("alice", "not-" + password) == 403
        # everyone through the form, the instructor too
        assert {u: hub.login(u, password) for u in USERS} == dict.fromkeys(USERS, 302)
        subprocess.run(["gpasswd", "-d", "bob", GROUP], check=True, capture_output=True)
        assert hub.login("bob", password) == 403  # out of the group: refused, though known
        subprocess.run(["gpasswd", "-a", "bob", GROUP], check=True, capture_output=True)
        assert sorted(hub.browsers) == sorted(USERS)
        hub.start_servers()  # each from their own spawn page
        b = hub.browsers
        formgrader = {u: b[u].server("get", "/formgrader").status_code for u in USERS}
        assert formgrader == {INSTRUCTOR: 200, "alice": 404, "bob": 404}

        blocks = [lines for role, lines in guide_round() if role == "instructor"]
        for line in blocks[0]:  # students, generate, release
            m.instructor(line)
        # the instructor's Formgrader opens the course (load_subconfig), not the home folder
        r = b[INSTRUCTOR].server("get", "/formgrader/api/assignments")
        listed = {a["name"]: a for a in r.json()}
        assert sorted(listed) == sorted(p.name for p in (m.course / "solutions").iterdir())
        assert listed[A]["max_score"] == POINTS
        assert not (m.home[INSTRUCTOR] / "gradebook.db").exists()
        r = b["alice"].server("get", "/assignments", params={"course_id": layout.COURSE_ID})
        assert [a["assignment_id"] for a in r.json()["value"]] == [A]
        notebooks = work(m.course)
        for s, nb in notebooks.items():
            b[s].nbgrader("fetch")
            body = {"type": "notebook", "format": "json", "content": nb}
            r = b[s].server("put", f"/api/contents/{A}/{NB}", json=body)
            assert r.ok, r.text
            b[s].nbgrader("submit")
        inbound = m.exchange / layout.COURSE_ID / "inbound"
        (bobs,) = [p for p in inbound.iterdir() if p.name.startswith("bob+")]
        bobs_stamp = (bobs / "timestamp.txt").read_text()
        assert_alice_cannot_touch_bobs_entry(m, bobs)

        # alice hands her complete notebook in as bob's: dated 2099 to beat anything bob submits
        # later, and dated now, after bob's own
        now = time.strftime("%Y-%m-%d %H:%M:%S.000000 UTC", time.gmtime())
        forged = [
            forge(m, "alice", "bob", "2099-01-01 00:00:00.000000 UTC", notebooks["alice"]),
            forge(m, "alice", "bob", now, notebooks["alice"]),
        ]
        # the instructor collects from Formgrader (a POST with their cookies and _xsrf header)
        r = b[INSTRUCTOR].server("post", f"/formgrader/api/assignment/{A}/collect")
        assert r.ok and r.json()["success"], (r.status_code, r.text[:3000])
        for log in (r.json()["log"], None):
            if log is None:  # the guide's round from the command line collects again
                collect = blocks[1][0]
                assert collect == f"nbgrader collect {A}", blocks[1]
                log = m.instructor(f"{collect} 2>&1")
            for f in forged:
                assert f"REFUSED, not collected: inbound/{f.name}" in log, log[-3000:]
            assert "names bob but belongs to alice" in log
        assert (m.course / "submitted" / "bob" / A / "timestamp.txt").read_text() == bobs_stamp
        for line in blocks[1][1:]:  # autograde, feedback, release feedback
            m.instructor(line)
        for s in STUDENTS:
            b[s].nbgrader("fetch_feedback")
        for line in blocks[2]:  # export
            m.instructor(line)
        assert m.grades() == EXPECTED  # bob's own 6 of his parts A and D, not alice's 15
        r = b[INSTRUCTOR].server("get", f"/formgrader/api/submissions/{A}")
        assert {s["student"]: s["score"] for s in r.json()} == EXPECTED
        assert_own_feedback(m)
        assert_students_kept_apart(m)
    finally:
        hub.stop()
    for user in USERS:
        assert not _users_processes(user), f"{user} still has processes after the hub stopped"


# ------------------------------------------------- collect refuses what is not the student's own


def _inbound_entry(inbound, student, stamp, inside=None, assignment="ps1_moments"):
    folder = inbound / f"{student}+{assignment}+{stamp}+{secrets.token_hex(4)}"
    folder.mkdir()
    (folder / "timestamp.txt").write_text(stamp if inside is None else inside)
    (folder / "marker.txt").write_text(folder.name)
    return folder


def test_collect_refuses_forged_future_and_garbled_entries(tmp_path):
    """The course's collect (``course.exchange.Collect``), run by nbgrader: of the entries of one
    user, the forged, future-dated and garbled ones are refused by name in the log, and the
    genuine one is collected; a garbled name does not stop the collection."""
    from course.grading import runner

    me = pwd.getpwuid(os.geteuid()).pw_name
    other = next(p.pw_name for p in pwd.getpwall() if p.pw_uid != os.geteuid())
    root = runner.write_config(tmp_path / "course")
    inbound = tmp_path / "exchange" / layout.COURSE_ID / "inbound"
    inbound.mkdir(parents=True)
    now = time.time()
    stamp = lambda t: time.strftime("%Y-%m-%d %H:%M:%S.000000 UTC", time.gmtime(t))  # noqa: E731
    genuine = _inbound_entry(inbound, me, stamp(now - 60))
    refused = {
        "future": _inbound_entry(inbound, me, "2099-01-01 00:00:00.000000 UTC"),
        "garbled": _inbound_entry(inbound, me, "not-a-date"),
        "inside": _inbound_entry(inbound, me, stamp(now - 30), inside="2000-01-01 00:00:00 UTC"),
        "forged": _inbound_entry(inbound, other, stamp(now - 10)),
    }
    out = runner.run_nbgrader(
        root, "collect", "ps1_moments", f"--Exchange.root={tmp_path / 'exchange'}", timeout=300
    ).stdout
    for why, folder in refused.items():
        assert f"REFUSED, not collected: inbound/{folder.name}" in out, (why, out)
    assert f"names {other} but belongs to {me}" in out
    assert "in the future" in out and "differs from its name" in out
    collected = root / "submitted" / me / "ps1_moments" / "marker.txt"
    assert collected.read_text() == genuine.name
    assert not (root / "submitted" / other).exists()


def test_collect_reads_owners_from_the_roster(tmp_path):
    """On Kubernetes the students' uids have no account in the instructor's pod: with
    ``Collect.roster`` the owner of an entry is the roster's name for its uid."""
    from course.grading import runner

    me = pwd.getpwuid(os.geteuid()).pw_name
    root = runner.write_config(tmp_path / "course")
    roster = tmp_path / "roster.csv"
    roster.write_text(f"name,uid\ncarol,{os.geteuid()}\ndave,{os.geteuid() + 1}\n")
    inbound = tmp_path / "exchange" / layout.COURSE_ID / "inbound"
    inbound.mkdir(parents=True)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S.000000 UTC", time.gmtime(time.time() - 60))
    carols = _inbound_entry(inbound, "carol", stamp)
    daves = _inbound_entry(inbound, "dave", stamp)
    mine = _inbound_entry(inbound, me, stamp)
    out = runner.run_nbgrader(
        root,
        "collect",
        "ps1_moments",
        f"--Exchange.root={tmp_path / 'exchange'}",
        f"--Collect.roster={roster}",
        timeout=300,
    ).stdout
    assert f"inbound/{daves.name} names dave but belongs to carol" in out, out
    assert f"inbound/{mine.name} names {me} but belongs to carol" in out, out
    marker = root / "submitted" / "carol" / "ps1_moments" / "marker.txt"
    assert marker.read_text() == carols.name
    assert sorted(p.name for p in (root / "submitted").iterdir()) == ["carol"]


# ------------------------------------------------------------------ the capacity of one machine
#
# `make hub-capacity [HUB_STUDENTS=N]` (as root; not part of `make test` or `make test-hub`): N
# students, Linux users bnl-load001... in the class group, log in through the hub's form and start
# their servers from the spawn page, LOAD_PARALLEL of them at a time; each fetches, puts their
# notebook, runs it in a kernel of their server (over the kernel's websocket, as JupyterLab does)
# and submits (every third twice); the instructor collects, autogrades (--workers 2) and exports.
# Measured: every request's response time by kind, each user's memory (RSS and PSS of all their
# processes) idle and working, the hub's and the proxy's memory, the time to collect and grade,
# the machine's load average; checked: every student's submission collected exactly once, the
# latest one, with its expected score. Everything on 127.0.0.1; bounded in students (LOAD_MAX)
# and minutes (BNLAB_HUB_LOAD_MINUTES); it stops what it started and deletes its users.

LOAD_PARALLEL = 6  # people acting at the same moment (logging in, working, submitting)
LOAD_MAX = 64  # the most students the load test makes
LOAD_MINUTES = 60  # the default bound of one run, in minutes
LOAD_PREFIX = "bnl-load"  # the load test's students: bnl-load001, bnl-load002, ...


def load_setting(name, value, most):
    """The whole number `value` of the environment variable `name`, from 1 to `most`; None when
    unset or empty; a ValueError naming the variable otherwise."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if not text.isdigit() or not 1 <= int(text) <= most:
        raise ValueError(f"{name} must be a whole number from 1 to {most}, not {value!r}")
    return int(text)


def nearest_rank(xs, q):
    """The `q`-quantile (0 < q <= 1) of `xs` by the nearest-rank rule: the smallest value with at
    least a fraction q of the values at or below it."""
    if not xs:
        raise ValueError("nearest_rank needs at least one value")
    if not 0 < q <= 1:
        raise ValueError(f"q must be in (0, 1], not {q!r}")
    xs = sorted(xs)
    return xs[max(0, math.ceil(round(q * len(xs), 9)) - 1)]  # round: 0.95 * 60 is not 57


def quantiles(xs, digits=3):
    """``{n, median, p95, max}`` of `xs` (nearest rank; the median of an even count is the
    lower middle value); ``{n: 0}`` for none."""
    if not xs:
        return {"n": 0}
    return {
        "n": len(xs),
        "median": round(nearest_rank(xs, 0.5), digits),
        "p95": round(nearest_rank(xs, 0.95), digits),
        "max": round(max(xs), digits),
    }


def request_kind(method, path):
    """What a browser's request is, for the report: the hub's own pages and API, and the user's
    server (through the hub's proxy) by what JupyterLab asks it."""
    path = path.split("?", 1)[0]
    method = method.upper()
    if path.startswith("/hub/"):
        page = path.removeprefix("/hub/")
        for prefix, kind in (
            ("login", "login form" if method == "GET" else "login"),
            ("spawn-pending/", "spawn pending page"),
            ("spawn/", "spawn"),
            ("api/oauth2/authorize", "oauth authorize"),
            ("api/", "hub api"),
            ("user/", "hub redirect to server"),
        ):
            if page.startswith(prefix):
                return f"hub: {kind}"
        return "hub: other page"
    parts = path.split("/", 3)  # '', 'user', name, rest
    if len(parts) < 3 or parts[1] != "user":
        return "other"
    rest = "/" + (parts[3] if len(parts) > 3 else "")
    if rest.startswith("/assignments/"):
        return f"server: nbgrader {rest.split('/')[2]}"
    if rest.startswith("/oauth_callback"):
        return "server: oauth callback"
    for prefix, kind in (("/api/contents", "contents"), ("/api/sessions", "new kernel")):
        if rest.startswith(prefix):
            return f"server: {kind} {method}"
    if rest.startswith("/lab"):
        return "server: lab page"
    return "server: other"


def smaps_rollup_kb(text):
    """``{"rss": kB, "pss": kB}`` from the text of /proc/<pid>/smaps_rollup."""
    out = {"rss": 0, "pss": 0}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("Rss", "Pss"):
            out[key.lower()] = int(rest.split()[0])
    return out


def memory_mb(pids):
    """RSS and PSS (MB) of the processes `pids` together: PSS shares a page mapped by several
    processes (the environment's libraries) among them, as RAM holds it; RSS counts it in full
    for each."""
    total = {"rss": 0, "pss": 0}
    for pid in pids:
        with contextlib.suppress(OSError):  # a process that ended meanwhile
            got = smaps_rollup_kb(Path(f"/proc/{pid}/smaps_rollup").read_text())
            total = {k: total[k] + got[k] for k in total}
    return {k: v / 1024 for k, v in total.items()}


def capacity_summary(report):
    """The lines the load test prints."""
    out = [
        f"{report['students']} students on {report['cores']} cores and "
        f"{report['machine_memory_gb']} GB; load average {report.get('load_average', {})}",
    ]
    for phase in ("idle_user_mb", "working_user_mb"):
        if phase in report:
            q = report[phase]
            out.append(
                f"{phase}: PSS median {q['pss']['median']:.0f}, p95 {q['pss']['p95']:.0f}; "
                f"RSS median {q['rss']['median']:.0f}, p95 {q['rss']['p95']:.0f}"
            )
    for key in ("hub_and_proxy_mb", "logins_and_servers_s", "work_and_submit_s", "collect_s"):
        if key in report:
            out.append(f"{key}: {report[key]}")
    if "autograde_s" in report:
        out.append(
            f"autograde_s: {report['autograde_s']} ({report['autograde_per_student_s']} s "
            "per student with 2 workers)"
        )
    for kind, q in sorted(report.get("requests_s", {}).items()):
        out.append(f"  {kind:34} n {q['n']:4}  median {q['median']:7.3f}  p95 {q['p95']:7.3f} s")
    return "\n".join(out)


def in_parallel(fn, items, deadline, workers=LOAD_PARALLEL):
    """``fn(item)`` for every item, `workers` at a time; a TimeoutError past `deadline`
    (time.monotonic()), the first error of any call otherwise."""
    pool = ThreadPoolExecutor(workers)
    try:
        futures = [pool.submit(fn, item) for item in items]
        for f in futures:
            f.result(timeout=max(1.0, deadline - time.monotonic()))
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


def run_in_kernel(browser, path, deadline):
    """What a working student does: open `path` in a new kernel session on their server and run
    every code cell of the saved notebook over the kernel's websocket (errors are the
    student's); the kernel stays on, as a student leaves it."""
    import websocket

    body = {
        "path": path,
        "type": "notebook",
        "name": Path(path).name,
        "kernel": {"name": "python3"},
    }
    r = browser.server("post", "/api/sessions", json=body)
    assert r.status_code == 201, (browser.user, r.status_code, r.text[:1000])
    kernel = r.json()["kernel"]["id"]
    nb = nbformat.reads(
        json.dumps(browser.server("get", f"/api/contents/{path}").json()["content"]), 4
    )
    channels = f"/user/{browser.user}/api/kernels/{kernel}/channels"
    cookies = "; ".join(
        f"{c.name}={c.value}" for c in browser.session.cookies if channels.startswith(c.path)
    )
    ws = websocket.create_connection(
        browser.url.replace("http://", "ws://") + channels,
        cookie=cookies,
        timeout=max(5.0, deadline - time.monotonic()),
    )
    session = secrets.token_hex(8)
    try:
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            msg_id = secrets.token_hex(8)
            header = {
                "msg_id": msg_id,
                "msg_type": "execute_request",
                "session": session,
                "username": browser.user,
                "version": "5.3",
                "date": "",
            }
            content = {
                "code": cell.source,
                "silent": False,
                "store_history": True,
                "user_expressions": {},
                "allow_stdin": False,
                "stop_on_error": False,
            }
            ws.send(
                json.dumps(
                    {
                        "header": header,
                        "parent_header": {},
                        "metadata": {},
                        "content": content,
                        "channel": "shell",
                        "buffers": [],
                    }
                )
            )
            while True:
                msg = json.loads(ws.recv())
                if (
                    msg.get("channel") == "shell"
                    and msg.get("parent_header", {}).get("msg_id") == msg_id
                    and msg["header"]["msg_type"] == "execute_reply"
                ):
                    break
    finally:
        ws.close()


class LoadAverage:
    """The machine's 1-minute load average, sampled every 10 s in a thread while it runs."""

    def __init__(self):
        self.samples = [os.getloadavg()[0]]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self):
        while not self.stop.wait(10):
            self.samples.append(os.getloadavg()[0])

    def summary(self):
        self.stop.set()
        s = self.samples
        return {"start": s[0], "mean": round(sum(s) / len(s), 2), "max": max(s), "end": s[-1]}


@pytest.fixture(scope="module")
def load_size():
    """The number of students of `make hub-capacity`; the test skips without it."""
    n = load_setting("BNLAB_HUB_LOAD", os.environ.get("BNLAB_HUB_LOAD"), LOAD_MAX)
    if n is None:
        pytest.skip("the capacity of one machine runs in `make hub-capacity` (BNLAB_HUB_LOAD=N)")
    return n


@pytest.fixture(scope="module")
def load_students(load_size, machine):
    students = [f"{LOAD_PREFIX}{i:03d}" for i in range(1, load_size + 1)]
    for user in students:
        with contextlib.suppress(KeyError):
            if pwd.getpwnam(user).pw_gecos != MARK:
                pytest.skip(f"a Linux user {user} exists that this test did not make")
    _delete_users(students, group=None)  # left over by an interrupted run
    try:
        for user in students:
            subprocess.run(
                ["useradd", "-m", "-s", "/bin/bash", "-c", MARK, "-G", GROUP, user], check=True
            )
            Path(pwd.getpwnam(user).pw_dir).chmod(0o700)
            machine.home[user] = Path(pwd.getpwnam(user).pw_dir)
        yield students
    finally:
        _delete_users(students, group=None)
        for user in students:
            machine.home.pop(user, None)


def test_hub_capacity(load_size, load_students, machine):
    m, students = machine, load_students
    minutes = load_setting(
        "BNLAB_HUB_LOAD_MINUTES", os.environ.get("BNLAB_HUB_LOAD_MINUTES"), 24 * 60
    )
    deadline = time.monotonic() + 60 * (minutes or LOAD_MINUTES)
    m.setup_exchange("exchange-load")
    load = LoadAverage()
    report = {
        "students": len(students),
        "parallel": LOAD_PARALLEL,
        "cores": os.cpu_count(),
        "machine_memory_gb": round(
            os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1
        ),
        "cpu": next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "?",
        ),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    times = []  # (kind, seconds) of every response any browser received, redirects included
    hub = Hub(m)
    try:
        password = secrets.token_urlsafe(12)
        people = [INSTRUCTOR, *students]
        subprocess.run(
            ["chpasswd"], input="".join(f"{u}:{password}\n" for u in people), text=True, check=True
        )
        spawn_s = {}

        def arrive(user):
            browser = Browser(hub.url, user)
            browser.session.hooks["response"].append(
                lambda r, *a, **k: times.append(
                    (request_kind(r.request.method, r.request.path_url), r.elapsed.total_seconds())
                )
            )
            assert browser.login(password) == 302, user
            hub.browsers[user] = browser
            start = time.monotonic()
            browser.spawn()
            hub.wait(browser.server_ready, f"{user}'s server", 600)
            spawn_s[user] = time.monotonic() - start

        t0 = time.monotonic()
        in_parallel(arrive, people, deadline)
        report["logins_and_servers_s"] = round(time.monotonic() - t0, 1)
        report["server_start_s"] = quantiles(list(spawn_s.values()), 1)
        time.sleep(15)  # the servers settle
        idle = [memory_mb(_users_processes(u)) for u in students]
        report["idle_user_mb"] = {k: quantiles([x[k] for x in idle], 1) for k in ("rss", "pss")}

        roster = m.base / "roster.csv"
        roster.write_text("id\n" + "".join(f"{u}\n" for u in students))
        roster.chmod(0o644)
        m.instructor(f"nbgrader db student import {roster}")
        m.instructor(f"nbgrader generate_assignment {A} --force")
        m.instructor(f"nbgrader release_assignment {A}")
        notebooks = work(m.course)
        notebooks["blank"] = nbformat.read(m.course / "exercises" / A / NB, 4)
        kinds = {u: ("alice", "bob", "blank")[i % 3] for i, u in enumerate(students)}
        points = {"alice": POINTS, "bob": EXPECTED["bob"], "blank": 0.0}
        expected = {u: points[kinds[u]] for u in students}
        submits = {u: 2 if i % 3 == 0 else 1 for i, u in enumerate(students)}

        kernel_s = []  # a new kernel session and every cell of the notebook run in it

        def work_and_submit(user):
            b = hub.browsers[user]
            b.nbgrader("fetch")
            body = {"type": "notebook", "format": "json", "content": notebooks[kinds[user]]}
            r = b.server("put", f"/api/contents/{A}/{NB}", json=body)
            assert r.ok, (user, r.status_code, r.text[:1000])
            start = time.monotonic()
            run_in_kernel(b, f"{A}/{NB}", deadline)
            kernel_s.append(time.monotonic() - start)
            for _ in range(submits[user]):
                b.nbgrader("submit")
                time.sleep(1.1)  # a second submission gets a later timestamp

        t0 = time.monotonic()
        in_parallel(work_and_submit, students, deadline)
        report["work_and_submit_s"] = round(time.monotonic() - t0, 1)
        report["run_notebook_in_kernel_s"] = quantiles(kernel_s, 2)
        working = [memory_mb(_users_processes(u)) for u in students]
        report["working_user_mb"] = {
            k: quantiles([x[k] for x in working], 1) for k in ("rss", "pss")
        }
        hub_pids = subprocess.run(
            ["pgrep", "-u", "root", "-s", str(hub.process.pid)], capture_output=True, text=True
        ).stdout.split()
        report["hub_and_proxy_mb"] = {
            k: round(v) for k, v in memory_mb(int(p) for p in hub_pids).items()
        }

        # every submission in inbound/, each student's as often as they submitted
        inbound = m.exchange / layout.COURSE_ID / "inbound"
        entries = {}
        for p in inbound.iterdir():
            entries.setdefault(p.name.split("+")[0], []).append(p)
        assert {u: len(entries.get(u, [])) for u in students} == submits
        report["inbound_entries"] = sum(submits.values())
        t0 = time.monotonic()
        m.instructor(f"nbgrader collect {A}")
        report["collect_s"] = round(time.monotonic() - t0, 1)
        # each student's latest submission, and only theirs, was collected
        assert sorted(p.name for p in (m.course / "submitted").iterdir()) == sorted(students)
        for u in students:
            latest = max((p / "timestamp.txt").read_text() for p in entries[u])
            assert (m.course / "submitted" / u / A / "timestamp.txt").read_text() == latest, u
        t0 = time.monotonic()
        m.instructor(f".venv/bin/python -m course.grading autograde {A} --workers 2")
        report["autograde_s"] = round(time.monotonic() - t0, 1)
        report["autograde_per_student_s"] = round(report["autograde_s"] / len(students), 2)
        m.instructor("nbgrader export --to grades.csv")
        with open(m.course / "grades.csv") as f:
            rows = [r for r in csv.DictReader(f) if r["assignment"] == A]
        # no submission lost, none counted twice, each student's own score
        assert sorted(r["student_id"] for r in rows) == sorted(students)
        assert {r["student_id"]: float(r["score"]) for r in rows} == expected
        r = hub.browsers[INSTRUCTOR].server("get", f"/formgrader/api/submissions/{A}")
        listed = [s["student"] for s in r.json()]
        assert sorted(listed) == sorted(students), listed
        report["submissions"] = {
            "expected": len(students),
            "collected": len(rows),
            "lost": 0,
            "duplicated": 0,
        }
    finally:
        by_kind = {}
        for kind, seconds in list(times):
            by_kind.setdefault(kind, []).append(seconds)
        report["requests_s"] = {k: quantiles(v) for k, v in sorted(by_kind.items())}
        hub.stop()
        report["load_average"] = load.summary()
        report["minutes"] = round((time.monotonic() - deadline) / 60 + (minutes or LOAD_MINUTES), 1)
        out = Path(os.environ.get("BNLAB_HUB_LOAD_REPORT", "/tmp/bnlab-hub-capacity.json"))
        out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nThe capacity of one machine ({out}):\n{capacity_summary(report)}")
    for user in students:
        assert not _users_processes(user), f"{user} still has processes after the hub stopped"


class TestTheCapacityReport:
    """The load test's own arithmetic and arguments (fast, in `make test`)."""

    def test_nearest_rank_by_hand(self):
        assert nearest_rank(range(1, 21), 0.95) == 19  # 19 of 20 values at or below 19
        assert nearest_rank(range(1, 21), 0.5) == 10
        assert nearest_rank(range(100, 0, -1), 0.95) == 95  # unsorted input
        assert nearest_rank([7.5], 0.95) == 7.5
        assert nearest_rank([1, 2, 3], 1.0) == 3

    def test_quantiles(self):
        xs = [0.2, 0.1, 5.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
        assert quantiles(xs) == {"n": 10, "median": 0.5, "p95": 5.0, "max": 5.0}
        assert quantiles([]) == {"n": 0}

    @pytest.mark.parametrize("bad", [[], [1.0], None])
    def test_nearest_rank_refuses(self, bad):
        with pytest.raises(ValueError, match="nearest_rank|q must"):
            nearest_rank(bad or [], 0.0 if bad else 0.5)

    @pytest.mark.parametrize("value", ["0", "-3", "abc", "3.5", "65", "1e2"])
    def test_a_bad_number_of_students_is_named(self, value):
        with pytest.raises(ValueError, match=r"BNLAB_HUB_LOAD must be a whole number from 1 to 64"):
            load_setting("BNLAB_HUB_LOAD", value, LOAD_MAX)

    def test_good_numbers_of_students(self):
        assert load_setting("BNLAB_HUB_LOAD", " 16 ", LOAD_MAX) == 16
        assert load_setting("BNLAB_HUB_LOAD", "64", LOAD_MAX) == 64
        assert load_setting("BNLAB_HUB_LOAD", "", LOAD_MAX) is None
        assert load_setting("BNLAB_HUB_LOAD", None, LOAD_MAX) is None

    def test_request_kinds(self):
        assert request_kind("GET", "/hub/login?next=%2Fhub%2F") == "hub: login form"
        assert request_kind("POST", "/hub/login") == "hub: login"
        assert request_kind("GET", "/hub/spawn/bnl-load001") == "hub: spawn"
        assert request_kind("GET", "/hub/spawn-pending/bnl-load001") == "hub: spawn pending page"
        assert request_kind("GET", "/hub/api/oauth2/authorize?client_id=x") == (
            "hub: oauth authorize"
        )
        assert request_kind("GET", "/hub/api/users/bob") == "hub: hub api"
        assert request_kind("GET", "/hub/user/bob/lab") == "hub: hub redirect to server"
        assert request_kind("POST", "/user/bob/assignments/submit") == "server: nbgrader submit"
        assert request_kind("PUT", "/user/bob/api/contents/a/b.ipynb") == "server: contents PUT"
        assert request_kind("POST", "/user/bob/api/sessions") == "server: new kernel POST"
        assert request_kind("GET", "/user/bob/oauth_callback?code=1") == "server: oauth callback"
        assert request_kind("GET", "/user/bob/lab") == "server: lab page"
        assert request_kind("GET", "/user/bob") == "server: other"
        assert request_kind("GET", "/favicon.ico") == "other"

    def test_smaps_rollup(self):
        text = (
            "55d0c8a4e000-7ffd2b5f4000 ---p 00000000 00:00 0    [rollup]\n"
            "Rss:              163840 kB\nPss:               98304 kB\n"
            "Pss_Anon:          65536 kB\nPss_File:          32768 kB\nShared_Clean:  1 kB\n"
        )
        assert smaps_rollup_kb(text) == {"rss": 163840, "pss": 98304}

    def test_memory_of_this_process(self):
        got = memory_mb([os.getpid()])
        assert 10 < got["pss"] <= got["rss"] < 100_000
        assert memory_mb([2**22 + 7]) == {"rss": 0, "pss": 0}  # no such process: nothing
