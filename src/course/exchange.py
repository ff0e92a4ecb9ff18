"""nbgrader's filesystem exchange with modes that keep students apart (the hub's admin page).

nbgrader 0.9.6 leaves every submission folder mode 0777 in the exchange's inbound folder, and
``nbgrader collect`` copies that mode into the instructor's ``submitted/``: anyone who can reach
either folder can write into another student's submission. These two plugins, named in the
nbgrader configuration (``c.ExchangeFactory.submit`` and ``c.ExchangeFactory.collect``), take the
write bits of group and others away once the copy is done.
"""

import os
import shutil
import stat

from nbgrader.exchange.default.collect import ExchangeCollect
from nbgrader.exchange.default.submit import ExchangeSubmit
from nbgrader.utils import ignore_patterns

_NO_WRITE = ~(stat.S_IWGRP | stat.S_IWOTH)


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


class Collect(ExchangeCollect):
    """``nbgrader collect``: the collected copy in submitted/ is writable by its owner only, and
    holds no symbolic link.

    A student owns their folder in inbound/ and can replace a submitted file by a link to
    anything the instructor can read (``solutions/``); nbgrader's copy would follow it and
    collect the instructor's file as the student's. Here links are copied as links, never
    followed, then deleted from the copy (and logged).
    """

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
