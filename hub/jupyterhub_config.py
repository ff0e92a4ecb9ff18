# JupyterHub for a class on one machine (pages/admin_guide.md walks through it).
#
# Users are the machine's Linux accounts (PAM login); each user's server runs as that user
# (local-process spawner) from the shared environment made by hub/make-env.sh. Everything listens
# on 127.0.0.1 only: put a TLS reverse proxy (nginx, Caddy) in front to open the hub to a class.
#
# Settings read from the environment (the systemd unit of the admin page sets them):
#   BNLAB_INSTRUCTORS  comma-separated Linux users who are hub admins and get Formgrader
#   BNLAB_CLASS_GROUP  the Linux group whose members may log in     (default class)
#   BNLAB_ENV          the shared environment                       (default /opt/bnlab)
#   BNLAB_HUB_STATE    folder of the hub's database and cookie secret (default /srv/jupyterhub)
#   BNLAB_HUB_PORT     the public port on 127.0.0.1; the proxy's API and the hub take the next two
import os

c = get_config()  # noqa: F821 - provided by traitlets when it loads this file

env = os.environ.get("BNLAB_ENV", "/opt/bnlab")
state = os.environ.get("BNLAB_HUB_STATE", "/srv/jupyterhub")
port = int(os.environ.get("BNLAB_HUB_PORT", "8000"))
instructors = {u for u in os.environ.get("BNLAB_INSTRUCTORS", "").split(",") if u}
group = os.environ.get("BNLAB_CLASS_GROUP", "class")

c.JupyterHub.bind_url = f"http://127.0.0.1:{port}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{port + 1}"
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{port + 2}"
c.JupyterHub.db_url = f"sqlite:///{state}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = f"{state}/jupyterhub_cookie_secret"
c.JupyterHub.pid_file = f"{state}/jupyterhub.pid"

c.JupyterHub.authenticator_class = "pam"
c.Authenticator.admin_users = instructors
# The class and the instructors log in; root and the machine's other accounts do not. The
# instructors are named in allowed_users too: JupyterHub lets admins in only through
# allowed_users (it adds them to it when it is not empty), never through allowed_groups.
c.PAMAuthenticator.allowed_groups = {group}
c.Authenticator.allowed_users = set(instructors)
# Who may log in is decided by the group at each login, not remembered: a student taken out of
# the group is refused even after logging in before (JupyterHub's default, with allowed_users
# set, lets everybody in its database back in).
c.Authenticator.allow_existing_users = False

c.JupyterHub.spawner_class = "localprocess"
c.Spawner.ip = "127.0.0.1"
c.Spawner.cmd = [f"{env}/bin/jupyterhub-singleuser"]
c.Spawner.default_url = "/lab"
# the kernels, nbgrader and bnlab all come from the shared environment
c.Spawner.environment = {"PATH": f"{env}/bin:/usr/local/bin:/usr/bin:/bin"}
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
