"""nbgrader's filesystem exchange with modes that keep students apart (the hub's admin page).

nbgrader 0.9.6 leaves every submission folder mode 0777 in the exchange's inbound folder, and
``nbgrader collect`` copies that mode into the instructor's ``submitted/``: anyone who can reach
either folder can write into another student's submission. These two plugins, named in the
nbgrader configuration (``c.ExchangeFactory.submit`` and ``c.ExchangeFactory.collect``), take the
write bits of group and others away once the copy is done.

``inbound/`` lets every student add an entry, and an entry's name says whose submission it is and
when it was made. nbgrader's collect only warns when the name and the owner disagree, and takes the
latest timestamp, so a student could hand in a notebook in another's name dated 2099, and it would
beat everything the victim submits. :class:`Collect` refuses such an entry (and says so): its owner
must be the student it names, its timestamp must not lie in the future, and its ``timestamp.txt``
must agree with its name.
"""

import csv
import glob
import os
import pwd
import shutil
import stat
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.exchange.default.collect import ExchangeCollect
from nbgrader.exchange.default.submit import ExchangeSubmit
from nbgrader.utils import ignore_patterns, parse_utc
from traitlets import Unicode

_NO_WRITE = ~(stat.S_IWGRP | stat.S_IWOTH)
# how far a submission's timestamp may lie ahead of the collecting machine's clock (clock skew
# between the students' servers and the instructor's)
CLOCK_SKEW = timedelta(minutes=5)


def remove_group_other_write(top):
    """Clear the group and other write bits of `top` and of everything under it."""
    for folder, _, files in os.walk(top):
        for path in [folder, *(os.path.join(folder, f) for f in files)]:
            os.chmod(path, os.stat(path).st_mode & _NO_WRITE)


class Submit(ExchangeSubmit):
    """``nbgrader submit``: the submission in inbound/ is the student's own, mode 0755."""

    def copy_files(self):
        super().copy_files()
        remove_group_other_write(os.path.join(self.inbound_path, self.assignment_filename))


def read_roster(path):
    """``{uid: name}`` from a roster CSV with the columns ``name`` and ``uid`` (hub/values.yaml
    gives every student the uid the roster names; one uid, one name)."""
    names = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            uid, name = int(row["uid"]), row["name"].strip()
            if uid in names and names[uid] != name:
                raise ValueError(f"roster {path}: uid {uid} is both {names[uid]} and {name}")
            names[uid] = name
    return names


class Collect(ExchangeCollect):
    """``nbgrader collect``: only submissions that are their student's own are collected; the
    collected copy in submitted/ is writable by its owner only, and holds no symbolic link.

    An entry of inbound/ is refused (logged as an error, never copied) when it is not a folder,
    when its owner is not the student its name gives (unless ``check_owner`` is off, for a
    synthetic class made by one user; the owner's name comes from the machine's accounts or from
    the ``roster`` file), when its name's timestamp cannot be read or lies more
    than :data:`CLOCK_SKEW` in the future, or when its ``timestamp.txt`` differs from its name.
    Of the rest, the latest of each student is collected, as nbgrader does (with
    ``--before-duedate``, the latest before the due date).

    A student owns their folder in inbound/ and can replace a submitted file by a link to
    anything the instructor can read (``solutions/``); nbgrader's copy would follow it and
    collect the instructor's file as the student's. Here links are copied as links, never
    followed, then deleted from the copy (and logged).
    """

    roster = Unicode(
        "",
        config=True,
        help="A CSV file with the columns name and uid: when set, an inbound entry's owner is the "
        "roster's name for its uid (on Kubernetes, where the students' uids have no account in "
        "the instructor's pod); when empty, the machine's user database says.",
    )

    def owner(self, path):
        """The student owning `path` itself (a link is not followed), or ``uid N``."""
        uid = os.lstat(path).st_uid
        if self.roster:
            if not hasattr(self, "_roster_names"):
                self._roster_names = read_roster(self.roster)
            return self._roster_names.get(uid, f"uid {uid}")
        try:
            return pwd.getpwuid(uid).pw_name
        except KeyError:
            return f"uid {uid}"

    def refusal(self, path, username, stamp):
        """Why the inbound entry `path` (named for `username`, dated `stamp`) is not collected,
        or None."""
        if os.path.islink(path) or not os.path.isdir(path):
            return "is not a folder"
        if self.check_owner and self.owner(path) != username:
            return f"names {username} but belongs to {self.owner(path)}"
        try:
            when = parse_utc(stamp)
        except (ValueError, OverflowError) as e:
            return f"has an unreadable timestamp ({type(e).__name__})"
        now = datetime.now(UTC).replace(tzinfo=None)
        if when > now + CLOCK_SKEW:
            return f"is dated {when:%Y-%m-%d %H:%M:%S} UTC, in the future"
        try:
            with open(os.path.join(path, "timestamp.txt")) as f:
                inside = parse_utc(f.read(200).strip())
        except (OSError, ValueError, OverflowError):
            return "has no readable timestamp.txt"
        if inside != when:
            return "has a timestamp.txt that differs from its name"
        return None

    def init_src(self):
        if self.coursedir.course_id == "":
            self.fail("No course id specified. Re-run with --course flag.")
        self.course_path = os.path.join(self.root, self.coursedir.course_id)
        self.inbound_path = os.path.join(self.course_path, "inbound")
        if not os.path.isdir(self.inbound_path):
            self.fail(f"Course not found: {self.inbound_path}")
        if not os.access(self.inbound_path, os.R_OK | os.X_OK):
            self.fail(f"You don't have read permissions for the directory: {self.inbound_path}")
        student = self.coursedir.student_id or "*"
        pattern = os.path.join(self.inbound_path, f"{student}+{self.coursedir.assignment_id}+*")
        by_student = defaultdict(list)
        for path in sorted(glob.glob(pattern)):
            # STUDENT+ASSIGNMENT+TIMESTAMP[+RANDOM]: a user name may hold a +, the rest not
            name = os.path.basename(path)
            cut = name.rfind(f"+{self.coursedir.assignment_id}+")
            username = name[:cut]
            stamp = name[cut + len(self.coursedir.assignment_id) + 2 :].split("+")[0]
            reason = self.refusal(path, username, stamp)
            if reason:
                self.log.error("REFUSED, not collected: inbound/%s %s", name[:200], reason)
                continue
            record = {"username": username, "filename": name, "timestamp": parse_utc(stamp)}
            by_student[username].append(record)
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            try:
                self.duedate = gb.find_assignment(self.coursedir.assignment_id).duedate
            except MissingEntry:
                self.duedate = None
        self.src_records = []
        for records in by_student.values():
            records.sort(key=lambda r: r["timestamp"], reverse=True)
            if self.duedate is not None and self.before_duedate:
                on_time = [r for r in records if r["timestamp"] <= self.duedate]
                records = on_time or records
            self.src_records.append(records[0])

    def do_copy(self, src, dest, log=None):
        if os.path.islink(src):
            raise RuntimeError(f"{src} is a symbolic link: not collected")
        size = self.get_size(src)
        if size > 1000 * self.coursedir.max_dir_size:
            raise RuntimeError(f"{src} holds {size} bytes, more than the course allows")
        shutil.copytree(
            src,
            dest,
            symlinks=True,
            ignore=ignore_patterns(
                exclude=self.coursedir.ignore,
                include=self.coursedir.include,
                max_file_size=self.coursedir.max_file_size,
                log=self.log,
            ),
        )
        for folder, dirs, files in os.walk(dest):
            for name in dirs + files:
                path = os.path.join(folder, name)
                if os.path.islink(path):
                    self.log.warning("%s is a symbolic link: left out of the collected copy", path)
                    os.unlink(path)
        remove_group_other_write(dest)
