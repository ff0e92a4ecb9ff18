"""course.grading.runner: a course directory on the course's configuration (nbgrader itself
runs in every test marked ``grading``)."""

from course.grading import runner


def test_assignments_are_the_folders_that_hold_notebooks(tmp_path):
    for folder, files in {
        "ps2": ["b.ipynb"],
        "ps1": ["a.ipynb", "x.txt"],
        "notes": ["n.md"],
    }.items():
        (tmp_path / folder).mkdir()
        for name in files:
            (tmp_path / folder / name).write_text("{}")
    (tmp_path / "loose.ipynb").write_text("{}")
    assert runner.assignments(tmp_path) == ["ps1", "ps2"]


def test_the_config_of_a_course_directory_names_its_folders(tmp_path):
    root = runner.write_config(tmp_path / "course", source="src_nb", release="rel")
    text = (root / "nbgrader_config.py").read_text()
    assert "from course.grading.config import apply" in text
    assert repr(str(root)) in text and "source='src_nb'" in text and "release='rel'" in text
