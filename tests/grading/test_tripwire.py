"""course.grading.tripwire: what a kernel changed in the trusted folders is put back."""

from course.grading import tripwire


def test_tripwire_restores(tmp_path):
    (tmp_path / "d").mkdir()
    f = tmp_path / "d" / "a.txt"
    f.write_text("trusted")
    wire = tripwire.Tripwire([tmp_path / "d"])
    f.write_text("changed")
    (tmp_path / "d" / "b.txt").write_text("planted")
    changed = wire.restore()
    assert len(changed) == 2 and f.read_text() == "trusted"
    assert not (tmp_path / "d" / "b.txt").exists()
