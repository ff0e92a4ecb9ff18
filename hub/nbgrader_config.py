# nbgrader settings for every user of the machine: installed by hub/make-env.sh as
# <shared env>/etc/jupyter/nbgrader_config.py, which every nbgrader of that environment reads
# (the command line and the Assignments tab of each user's server alike).
from course import layout

c = get_config()  # noqa: F821 - provided by traitlets when it loads this file
c.CourseDirectory.course_id = layout.COURSE_ID
c.Exchange.root = layout.EXCHANGE_ROOT  # hub/setup-exchange.sh appends another root if given one
# a submission in inbound/ stays writable by its student only (nbgrader's own mode is 0777)
c.ExchangeFactory.submit = "course.exchange.Submit"
