"""The course's tooling, installed beside the reference package `bnlab`.

- `course.layout`         where everything of a course directory lives, what a student may never see
- `course.grading`        the nbgrader pipeline (``python -m course.grading --help``)
- `course.notebook_forms` the notebook forms of the chapters that the launch buttons open
- `course.exercise_pages` the website's exercise pages, one set per edition (student, self-study)
- `course.execute`        a chapter's notebook form run under a seed offset; the verdict chapters
- `course.chapter_times`  how long each chapter takes: the landing page's table
- `course.myst_to_ipynb`  the chapters' MyST turned into Markdown that Jupyter and Colab render
- `course.publish`        the public address (owner, repository, branch) and the links it makes
- `course.release`        the student release: the public tree without solutions (``make release``)
- `course.execute_cache`  the chapters executed into the book's cache before the build
- `course.classroom`      a synthetic class of submissions (benchmarks, tests)
- `course.exchange`       nbgrader's exchange with modes that keep students apart (the hub)
- `course.pdf`            the whole book as one PDF, printed by Chromium (``make pdf``)
- `course.browser`        when a page of the built book is ready to look at (PDF, browser test)
- `course.verdicts`       how close each verdict of the book is to failing (``make verdicts``)
- `course.chapter_format` the chapters' code cells formatted by ruff at the site's column width
- `course.crosslinks`     a problem-set part's label, and its links to and from chapter sections
- `course.concepts`       the README's concept table: code, section, part and test of a concept

It imports `bnlab`; `bnlab` never imports it.
"""
