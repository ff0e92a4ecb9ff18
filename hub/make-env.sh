#!/usr/bin/env bash
# The shared environment of a class machine or hub: hub/make-env.sh [PREFIX]  (default /opt/bnlab)
#
# Run it as root from the course folder. It builds a virtual environment with Debian's own Python
# (/usr/bin/python3, 3.11.2; PYTHON=... for another 3.11) from the course's pins (requirements.txt)
# and hub/requirements.txt (JupyterHub), installs bnlab and the course tooling into it as a copy,
# not editable (the instructor's clone, which holds solutions/, stays private to the instructor),
# and makes it readable by everyone. It also installs the machine-wide nbgrader configuration
# (course id, exchange, hub/nbgrader_config.py) and turns off Formgrader and Create Assignment for
# everyone; hub/setup-exchange.sh turns them back on for the instructor.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${1:-/opt/bnlab}
python=${PYTHON:-/usr/bin/python3}
torch_index=${TORCH_INDEX-https://download.pytorch.org/whl/cpu}
torch=$(sed -n 's/^\(torch==[^ ]*\).*/\1/p' requirements.txt)

umask 022
"$python" -m venv "$prefix"
pip=("$prefix/bin/python" -m pip --disable-pip-version-check --quiet)
# torch's CPU build first (as `make venv` does): PyPI's default for Linux is the multi-GB CUDA one
"${pip[@]}" install --no-deps --retries 1 --timeout 10 --index-url "$torch_index" "$torch" ||
  { echo "WARNING: $torch not found on $torch_index; taking the default index's build" >&2;
    "${pip[@]}" install --no-deps "$torch"; }
"${pip[@]}" install -r requirements.txt -r hub/requirements.txt
# a copy of the package sources, so that the build leaves nothing in the course folder
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
cp -r pyproject.toml README.md src "$src"
"${pip[@]}" install --no-deps "$src"

install -d -m 755 "$prefix/etc/jupyter"
install -m 644 hub/nbgrader_config.py "$prefix/etc/jupyter/nbgrader_config.py"
"$prefix/bin/jupyter" server extension disable --sys-prefix nbgrader.server_extensions.formgrader
# JupyterLab's side, written directly: `jupyter labextension disable` would lock the plugins at
# this level, and the instructor's own configuration could not turn them on again
install -d -m 755 "$prefix/etc/jupyter/labconfig"
cat >"$prefix/etc/jupyter/labconfig/page_config.json" <<'EOF'
{"disabledExtensions": {"@jupyter/nbgrader:formgrader": true, "@jupyter/nbgrader:create-assignment": true}}
EOF
chmod -R a+rX "$prefix"
echo "shared environment ready: $prefix ($("$prefix/bin/python" --version))"
