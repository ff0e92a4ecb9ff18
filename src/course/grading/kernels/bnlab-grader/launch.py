"""Start an IPython kernel for grading untrusted notebooks: memory limit, read-only references.

jupyter_client replaces the leading "python" of kernel.json with the interpreter that runs
nbgrader, so the kernel uses the course's virtual environment.

1. Memory: the address-space limit (bytes) comes from BNLAB_GRADER_MEMORY (default 2 GiB; 0
   disables it). Soft and hard limits are both set, so code in the kernel cannot raise them
   again (unless it runs as root: see the instructor guide). A submission that allocates more
   gets a MemoryError in the cell that tried, and only there.
2. Read-only modules: numpy, numpy.testing, bnlab (and its graded submodules,
   ``course.grading.REFERENCE_MODULES``) and course.grading.referee are imported before any
   submitted code and made read-only, so ``np.allclose = ...`` or ``bnlab.batchnorm.forward =
   ...`` raises AttributeError in the submission's own cell. (The hidden tests do not rely on
   this: their reference runs in a fresh interpreter anyway.)
"""

import importlib
import os
import resource
import sys
import types

limit = int(os.environ.get("BNLAB_GRADER_MEMORY", str(2 * 1024**3)))
if limit > 0:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


class ReadOnlyModule(types.ModuleType):
    """A module whose existing attributes cannot be replaced or deleted.

    Registering a newly imported submodule stays possible (the import system needs it).
    """

    def __setattr__(self, name, value):
        if name in self.__dict__ or not isinstance(value, types.ModuleType):
            raise AttributeError(f"module {self.__name__!r} is read-only while grading")
        super().__setattr__(name, value)

    def __delattr__(self, name):
        raise AttributeError(f"module {self.__name__!r} is read-only while grading")


from course.grading import REFERENCE_MODULES  # noqa: E402

PROTECTED = ["numpy", "numpy.testing", "course.grading.referee", "bnlab", *REFERENCE_MODULES]
for name in PROTECTED:
    try:
        module = importlib.import_module(name)
    except ImportError:
        continue
for name in PROTECTED:
    module = sys.modules.get(name)
    if module is not None and type(module) is types.ModuleType:
        module.__class__ = ReadOnlyModule

from ipykernel import kernelapp  # noqa: E402

kernelapp.launch_new_instance()
