#!/usr/bin/env bash
# nbgrader's exchange and the instructor's account, with safe owners and modes:
#   hub/setup-exchange.sh INSTRUCTOR COURSE_FOLDER [EXCHANGE]
# Run it as root, after hub/make-env.sh (PREFIX=... names another shared environment than
# /opt/bnlab). EXCHANGE defaults to nbgrader's own /usr/local/share/nbgrader/exchange.
#
#   EXCHANGE             root:root 1777  anyone may add an entry; the sticky bit stops anyone but
#                                        its owner from renaming or deleting one
#   EXCHANGE/<course>    INSTRUCTOR 755  made now, so that no student can create it first
#     outbound/          INSTRUCTOR 755  released assignments: everyone reads, nobody else writes
#     inbound/           INSTRUCTOR 1733 students add submissions, cannot list or rename them
#     feedback/          INSTRUCTOR 711  each student opens only the folder named by the hash of
#                                        their own submission
#   ~INSTRUCTOR          700             solutions/, the gradebook and submitted/ stay private
#
# It stops, touching nothing, if the course folder in the exchange already exists with another
# owner: somebody created it before you, so inspect and remove it first.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "setup-exchange: run it as root" >&2; exit 1; }
[ $# -ge 2 ] || { echo "usage: $0 INSTRUCTOR COURSE_FOLDER [EXCHANGE]" >&2; exit 2; }
instructor=$1
course=$(realpath "$2")
prefix=${PREFIX:-/opt/bnlab}
py=$prefix/bin/python
id -u "$instructor" >/dev/null
group=$(id -gn "$instructor")
home=$(getent passwd "$instructor" | cut -d: -f6)
default=$("$py" -c 'from course.layout import EXCHANGE_ROOT; print(EXCHANGE_ROOT)')
exchange=${3:-$default}
course_id=$("$py" -c 'from course.layout import COURSE_ID; print(COURSE_ID)')

owner() { stat -c %U "$1"; }
if [ -e "$exchange" ] && [ "$(owner "$exchange")" != root ]; then
  echo "setup-exchange: $exchange belongs to $(owner "$exchange"), not root" >&2; exit 1
fi
if [ -e "$exchange/$course_id" ] && [ "$(owner "$exchange/$course_id")" != "$instructor" ]; then
  echo "setup-exchange: $exchange/$course_id belongs to $(owner "$exchange/$course_id"), not" \
    "$instructor: inspect and remove it, then run this again" >&2; exit 1
fi
install -d -o root -g root -m 1777 "$exchange"
install -d -o "$instructor" -g "$group" -m 755 "$exchange/$course_id" "$exchange/$course_id/outbound"
install -d -o "$instructor" -g "$group" -m 1733 "$exchange/$course_id/inbound"
install -d -o "$instructor" -g "$group" -m 711 "$exchange/$course_id/feedback"

# every nbgrader of the shared environment uses this exchange
config=$prefix/etc/jupyter/nbgrader_config.py
sed -i '/^c.Exchange.root = .* # setup-exchange$/d' "$config"
if [ "$exchange" != "$default" ]; then
  echo "c.Exchange.root = \"$exchange\"  # setup-exchange" >>"$config"
fi

chmod 700 "$home"
# the instructor's Formgrader opens the course folder; only the instructor gets Formgrader
install -d -o "$instructor" -g "$group" -m 755 "$home/.jupyter"
sed "s|@COURSE@|$course|" "$(dirname "$0")/instructor_nbgrader_config.py" >"$home/.jupyter/nbgrader_config.py"
chown "$instructor:$group" "$home/.jupyter/nbgrader_config.py"
# (written directly: `jupyter server extension enable --user` refuses an extension that the
# user's configuration does not list yet)
install -d -o "$instructor" -g "$group" -m 755 "$home/.jupyter/jupyter_server_config.d" \
  "$home/.jupyter/labconfig"
echo '{"ServerApp": {"jpserver_extensions": {"nbgrader.server_extensions.formgrader": true}}}' \
  >"$home/.jupyter/jupyter_server_config.d/bnlab-instructor.json"
echo '{"disabledExtensions": {"@jupyter/nbgrader:formgrader": false,' \
  '"@jupyter/nbgrader:create-assignment": false}}' >"$home/.jupyter/labconfig/page_config.json"
chown "$instructor:$group" "$home/.jupyter/jupyter_server_config.d/bnlab-instructor.json" \
  "$home/.jupyter/labconfig/page_config.json"
echo "exchange ready: $exchange/$course_id (instructor $instructor, course $course)"
