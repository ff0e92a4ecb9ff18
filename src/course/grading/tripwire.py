"""A byte snapshot of trusted files that undoes and reports any change."""

from pathlib import Path


class Tripwire:
    """Byte snapshot of trusted files; `restore()` undoes any change and reports it."""

    def __init__(self, paths):
        self.files = {}
        for p in paths:
            p = Path(p)
            for f in [p] if p.is_file() else sorted(p.rglob("*")):
                if f.is_file() and "__pycache__" not in f.parts:
                    self.files[f] = f.read_bytes()
        self.roots = [Path(p) for p in paths if Path(p).is_dir()]

    def restore(self):
        changed = []
        for f, data in self.files.items():
            if not f.exists() or f.read_bytes() != data:
                changed.append(str(f))
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_bytes(data)
        for root in self.roots:
            for f in root.rglob("*"):
                if f.is_file() and f not in self.files and "__pycache__" not in f.parts:
                    changed.append(f"{f} (new file, removed)")
                    f.unlink()
        return changed
