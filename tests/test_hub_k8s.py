"""hub/values.yaml (Zero to JupyterHub) loaded as the chart's hub would load it, without a cluster.

The fast checks run everywhere (the YAML alone). The load runs in ``make test-hub``
(BNLAB_TEST_HUB=1): it makes a throwaway environment with JupyterHub, jupyterhub-kubespawner,
oauthenticator and nativeauthenticator (hub/k8s/requirements.txt), runs hub/k8s/check_values.py
on the values (and on the NativeAuthenticator fallback on top of them), and checks who may log
in and the pod each person on the roster would get.
"""

import csv
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from course import layout
from course.layout import REPO_ROOT

HUB = REPO_ROOT / "hub"
VALUES = HUB / "values.yaml"
NATIVE = HUB / "values-native.yaml"
EXCHANGE = "/usr/local/share/nbgrader/exchange"

pytestmark = pytest.mark.hub


def values():
    return yaml.safe_load(VALUES.read_text())


def roster():
    text = values()["hub"]["extraFiles"]["roster"]["stringData"]
    return {r["name"]: r for r in csv.DictReader(io.StringIO(text))}


class TestTheValuesFile:
    def test_one_roster_for_the_hub_and_the_pods(self):
        v = values()
        assert (
            v["singleuser"]["extraFiles"]["roster"]["stringData"]
            == (v["hub"]["extraFiles"]["roster"]["stringData"])
        )
        people = roster()
        assert {r["role"] for r in people.values()} == {"student", "instructor"}
        uids = [int(r["uid"]) for r in people.values()]
        assert len(set(uids)) == len(uids) and min(uids) >= 10000

    def test_a_real_authenticator_and_no_placeholder_secret_in_use(self):
        config = values()["hub"]["config"]
        assert config["JupyterHub"]["authenticator_class"] == "generic-oauth"
        assert config["Authenticator"]["allow_existing_users"] is False
        native = yaml.safe_load(NATIVE.read_text())["hub"]["config"]
        assert native["JupyterHub"]["authenticator_class"] == "native"
        assert native["NativeAuthenticator"]["open_signup"] is False

    def test_the_exchange_is_mounted_and_claimed(self):
        su = values()["singleuser"]
        mounts = {m["name"]: m["mountPath"] for m in su["storage"]["extraVolumeMounts"]}
        assert mounts == {"nbgrader-exchange": EXCHANGE}
        claim = su["storage"]["extraVolumes"][0]["persistentVolumeClaim"]["claimName"]
        pvc = yaml.safe_load((HUB / "k8s" / "exchange-pvc.yaml").read_text())
        assert pvc["metadata"]["name"] == claim
        assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]

    def test_every_nbgrader_refuses_forged_submissions_by_the_roster(self):
        files = values()["singleuser"]["extraFiles"]
        machine_wide = files["nbgrader-config"]["stringData"]
        assert f'c.CourseDirectory.course_id = "{layout.COURSE_ID}"' in machine_wide
        for text in (machine_wide, files["instructor-nbgrader-config"]["stringData"]):
            assert 'c.Collect.roster = "/usr/local/etc/bnlab/roster.csv"' in text
        assert 'ExchangeFactory.collect = "course.exchange.Collect"' in machine_wide


def _k8s_venv():
    """A throwaway environment with hub/k8s/requirements.txt (Debian's or this Python)."""
    base = Path(tempfile.mkdtemp(prefix="bnlab-k8s-"))
    python = "/usr/bin/python3" if Path("/usr/bin/python3").is_file() else sys.executable
    subprocess.run([python, "-m", "venv", base / "venv"], check=True)
    pip = [base / "venv" / "bin" / "python", "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "-r", HUB / "k8s" / "requirements.txt"], check=True)
    return base / "venv" / "bin" / "python"


@pytest.fixture(scope="module")
def checked():
    if os.environ.get("BNLAB_TEST_HUB") != "1":
        pytest.skip("the values load with kubespawner in `make test-hub` (BNLAB_TEST_HUB=1)")
    python = os.environ.get("BNLAB_K8S_PYTHON") or _k8s_venv()
    out = {}
    for name, files in {"oauth": [VALUES], "native": [VALUES, NATIVE]}.items():
        r = subprocess.run(
            [python, HUB / "k8s" / "check_values.py", *files], capture_output=True, text=True
        )
        assert r.returncode == 0, r.stdout + r.stderr
        out[name] = json.loads(r.stdout)
    return out


def test_only_the_roster_logs_in_and_its_instructor_is_the_admin(checked):
    people = roster()
    instructors = sorted(n for n, r in people.items() if r["role"] == "instructor")
    for kind, expected in (
        ("oauth", "oauthenticator.generic.GenericOAuthenticator"),
        ("native", "nativeauthenticator.nativeauthenticator.NativeAuthenticator"),
    ):
        s = checked[kind]
        assert s["authenticator"] == expected
        assert s["allowed"] == {**{n: True for n in people}, "mallory": False}
        assert s["admin_users"] == instructors
        assert s["allow_existing_users"] is False


def test_every_pod_runs_as_its_own_uid_with_the_exchange(checked):
    people = roster()
    instructor_uid = next(r["uid"] for r in people.values() if r["role"] == "instructor")
    pods = checked["oauth"]["pods"]
    assert sorted(pods) == sorted(people)
    for name, p in pods.items():
        uid = int(people[name]["uid"])
        assert p["security_context"]["runAsUser"] == uid, name
        assert p["pod_security_context"]["fsGroup"] == uid, name
        assert p["env"]["USER"] == name
        assert EXCHANGE in p["mounts"] and "/home/jovyan" in p["mounts"]
        assert p["init_containers"]["bnlab-exchange-modes"] == {
            "BNLAB_INSTRUCTOR_UID": instructor_uid
        }
    for name, p in pods.items():
        if people[name]["role"] == "student":
            assert "JUPYTER_CONFIG_PATH" not in p["env"]
            assert p["security_context"].get("seccompProfile") is None
            assert p["resources"]["limits"]["memory"] == 2 * 1024**3  # 2G


def test_the_instructors_pod_can_hold_the_grading_sandbox(checked):
    people = roster()
    name = next(n for n, r in people.items() if r["role"] == "instructor")
    p = checked["oauth"]["pods"][name]
    assert p["env"]["JUPYTER_CONFIG_PATH"] == "/etc/jupyter/instructor"
    sc = p["security_context"]
    assert sc["seccompProfile"] == {"type": "Unconfined"}
    assert sc["procMount"] == "Unmasked" and p["host_users"] is False
    assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"] == {"drop": ["ALL"]}
    assert "/etc/jupyter/instructor/nbgrader_config.py" in checked["oauth"]["singleuser_files"]
