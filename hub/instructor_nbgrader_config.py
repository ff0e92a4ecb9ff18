# The instructor's own nbgrader settings: hub/setup-exchange.sh installs this file as
# ~INSTRUCTOR/.jupyter/nbgrader_config.py with @COURSE@ as the course folder. The
# Formgrader of the instructor's server then opens that course (not the home folder, where it
# would list nothing and create a stray gradebook.db).
c = get_config()  # noqa: F821 - provided by traitlets when it loads this file
load_subconfig("@COURSE@/nbgrader_config.py")  # noqa: F821 - provided by traitlets
