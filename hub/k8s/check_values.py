"""Load hub/values.yaml as the jupyterhub Helm chart's hub would, without a cluster.

    python hub/k8s/check_values.py hub/values.yaml [hub/values-native.yaml ...]

Run it with JupyterHub, jupyterhub-kubespawner, oauthenticator and nativeauthenticator installed
(hub/k8s/requirements.txt; tests/test_hub_k8s.py makes a throwaway environment for it). It maps
the values' keys onto the hub's configuration as the chart does for the keys this course uses
(and refuses any other key, which it could not check), runs the values' extraConfig, builds the
authenticator and asks it who may log in, then builds with KubeSpawner the pod manifest of every
person on the roster after the values' pre_spawn hook ran. It checks that every volume a
container mounts is defined, that every claim is one of hub/k8s/*.yaml, that the init containers
use the users' image, and prints a JSON summary of the pods for the test to read.
"""

import asyncio
import copy
import csv
import inspect
import json
import os
import sys
import tempfile
from pathlib import Path

import yaml
from traitlets.config import Config

HERE = Path(__file__).resolve().parent
# singleuser.<key> -> KubeSpawner.<trait>, as the chart maps them (the keys this course uses)
SINGLEUSER_TRAITS = {
    ("uid",): "uid",
    ("fsGid",): "fs_gid",
    ("initContainers",): "init_containers",
    ("memory", "limit"): "mem_limit",
    ("memory", "guarantee"): "mem_guarantee",
    ("cpu", "limit"): "cpu_limit",
    ("cpu", "guarantee"): "cpu_guarantee",
    ("extraEnv",): "environment",
    ("extraPodConfig",): "extra_pod_config",
}
SINGLEUSER_OTHER = {"image", "defaultUrl", "storage", "extraFiles"}
HUB_KEYS = {"config", "extraConfig", "extraFiles"}
TOP_KEYS = {"hub", "singleuser", "cull"}
CULL_KEYS = {"enabled", "timeout", "every", "maxAge", "users"}


def merge(a, b):
    """Helm's merge of values files: b's keys over a's, dicts merged recursively."""
    out = copy.deepcopy(a)
    for k, v in b.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def refuse_unknown(where, keys, known):
    unknown = set(keys) - set(known)
    if unknown:
        raise SystemExit(f"{where}: keys this check does not map: {sorted(unknown)}")


def file_text(spec):
    """The text the chart writes for an extraFiles entry (stringData, or data as JSON/YAML)."""
    if "stringData" in spec:
        return spec["stringData"]
    if spec["mountPath"].endswith(".json"):
        return json.dumps(spec["data"])
    return yaml.safe_dump(spec["data"])


class User:
    """What KubeSpawner reads of a hub user."""

    def __init__(self, name, admin):
        self.name = self.escaped_name = name
        self.id = abs(hash(name)) % 10**6
        self.url = f"/user/{name}/"
        self.admin = admin


def claims_shipped():
    names = set()
    for manifest in HERE.glob("*.yaml"):
        for doc in yaml.safe_load_all(manifest.read_text()):
            if doc and doc.get("kind") == "PersistentVolumeClaim":
                names.add(doc["metadata"]["name"])
    return names


async def pod(c, name, admin):
    from kubernetes_asyncio.client import ApiClient
    from kubespawner import KubeSpawner

    spawner = KubeSpawner(_mock=True, config=copy.deepcopy(c), user=User(name, admin))
    if spawner.pre_spawn_hook:
        result = spawner.pre_spawn_hook(spawner)
        if inspect.isawaitable(result):
            await result
    manifest = await spawner.get_pod_manifest()
    return ApiClient().sanitize_for_serialization(manifest)


def check_pod(p, image, claims):
    spec = p["spec"]
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for ctr in spec["containers"] + spec.get("initContainers", []):
        for mount in ctr.get("volumeMounts", []):
            if mount["name"] not in volumes:
                raise SystemExit(f"container {ctr['name']} mounts undefined volume {mount['name']}")
        if ctr is not spec["containers"][0] and ctr["image"] != image:
            raise SystemExit(f"init container {ctr['name']} runs {ctr['image']}, not {image}")
    for v in volumes.values():
        claim = v.get("persistentVolumeClaim", {}).get("claimName")
        if claim and not claim.startswith("claim-") and claim not in claims:
            raise SystemExit(f"volume {v['name']} claims {claim}, defined in no hub/k8s/*.yaml")


async def main(paths):
    values = {}
    for path in paths:
        values = merge(values, yaml.safe_load(Path(path).read_text()))
    refuse_unknown("values", values, TOP_KEYS)
    refuse_unknown("hub", values["hub"], HUB_KEYS)
    refuse_unknown("cull", values.get("cull", {}), CULL_KEYS)
    su = values["singleuser"]
    refuse_unknown("singleuser", su, {k[0] for k in SINGLEUSER_TRAITS} | SINGLEUSER_OTHER)

    tmp = Path(tempfile.mkdtemp(prefix="bnlab-values-"))
    c = Config()
    for section, traits in values["hub"].get("config", {}).items():
        c[section].update(traits)
    c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
    c.Spawner.default_url = su.get("defaultUrl", "")
    c.KubeSpawner.image = f"{su['image']['name']}:{su['image']['tag']}"
    for keys, trait in SINGLEUSER_TRAITS.items():
        v = su
        for k in keys:
            v = v.get(k) if isinstance(v, dict) else None
        if v is not None:
            setattr(c.KubeSpawner, trait, v)
    storage = su.get("storage", {})
    volumes, mounts = [], []
    if storage.get("type") == "dynamic":
        volumes.append({"name": "home", "persistentVolumeClaim": {"claimName": "claim-{username}"}})
        mounts.append({"name": "home", "mountPath": storage["homeMountPath"]})
    c.KubeSpawner.volumes = volumes + storage.get("extraVolumes", [])
    c.KubeSpawner.volume_mounts = mounts + storage.get("extraVolumeMounts", [])

    # the files the chart mounts: each written here, the paths the extraConfig reads redirected
    files = {}
    for where in ("hub", "singleuser"):
        for key, spec in values[where].get("extraFiles", {}).items():
            target = tmp / where / key / Path(spec["mountPath"]).name
            target.parent.mkdir(parents=True)
            target.write_text(file_text(spec))
            files[(where, spec["mountPath"])] = target
            if spec["mountPath"].endswith(".py"):
                compile(target.read_text(), spec["mountPath"], "exec")
    mounted = [m for (w, m) in files if w == "singleuser"]
    if len(mounted) != len(set(mounted)):
        raise SystemExit("two singleuser.extraFiles share a mountPath")

    # KubeSpawner loads a client configuration when it is made; this one names a cluster on
    # 127.0.0.1 that nothing here contacts (building a pod manifest makes no API call)
    kubeconfig = tmp / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "none",
                "contexts": [{"name": "none", "context": {"cluster": "none", "user": "none"}}],
                "clusters": [{"name": "none", "cluster": {"server": "https://127.0.0.1:9"}}],
                "users": [{"name": "none", "user": {}}],
            }
        )
    )
    os.environ["KUBECONFIG"] = str(kubeconfig)
    roster_path = files[("hub", "/usr/local/etc/bnlab/roster.csv")]
    os.environ["BNLAB_ROSTER"] = str(roster_path)
    for name, snippet in values["hub"].get("extraConfig", {}).items():
        exec(compile(snippet, f"hub.extraConfig.{name}", "exec"), {"c": c})

    from jupyterhub.app import JupyterHub

    c.JupyterHub.db_url = "sqlite://"  # in memory (NativeAuthenticator keeps its own table)
    app = JupyterHub(config=c)
    app.init_db()
    auth = app.authenticator_class(parent=app, _deprecated_db_session=app.db)
    with open(roster_path, newline="") as f:
        roster = {r["name"]: r for r in csv.DictReader(f)}
    allowed = {}
    for name in [*roster, "mallory"]:
        model = {"name": name, "admin": None, "auth_state": {}}
        result = auth.check_allowed(name, model)
        allowed[name] = bool(await result if inspect.isawaitable(result) else result)

    claims = claims_shipped()
    pods = {}
    for name, row in roster.items():
        p = await pod(c, name, row["role"] == "instructor")
        check_pod(p, c.KubeSpawner.image, claims)
        ctr = p["spec"]["containers"][0]
        pods[name] = {
            "pod_security_context": p["spec"].get("securityContext", {}),
            "security_context": ctr.get("securityContext", {}),
            "env": {e["name"]: e.get("value") for e in ctr.get("env", [])},
            "volumes": sorted(v["name"] for v in p["spec"].get("volumes", [])),
            "mounts": sorted(m["mountPath"] for m in ctr.get("volumeMounts", [])),
            "init_containers": {
                i["name"]: {e["name"]: e.get("value") for e in i.get("env", [])}
                for i in p["spec"].get("initContainers", [])
            },
            "host_users": p["spec"].get("hostUsers"),
            "resources": ctr.get("resources", {}),
            "image": ctr["image"],
        }
    summary = {
        "authenticator": f"{type(auth).__module__}.{type(auth).__name__}",
        "allowed": allowed,
        "admin_users": sorted(auth.admin_users),
        "allow_existing_users": auth.allow_existing_users,
        "cull": values.get("cull", {}),
        "singleuser_files": sorted(mounted),
        "pods": pods,
    }
    print(json.dumps(summary, indent=1, sort_keys=True))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    asyncio.run(main(sys.argv[1:]))
