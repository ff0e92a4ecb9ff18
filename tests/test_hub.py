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
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
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


def _delete_users():
    for user in USERS:
        with contextlib.suppress(KeyError):
            if pwd.getpwnam(user).pw_gecos != MARK:
                continue
            for pid in _users_processes(user):  # only the users this test made
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            subprocess.run(["userdel", "-r", user], capture_output=True)
    subprocess.run(["groupdel", GROUP], capture_output=True)


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
