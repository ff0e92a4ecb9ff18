"""The learner's check (bnlab.selfcheck), run from a student release as a learner would.

Each problem set's student notebook is filled with the course's solutions, then one typical
mistake per part is written into it (the mistakes are this file's own code, not the
generator's); the check must fail every part with a message that names the part, what was
expected and what came, and by how much.
"""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from bnlab import selfcheck
from course import release

ROOT = Path(__file__).resolve().parents[1]
NUMERIC = ("largest absolute error:", "largest relative error:", "tolerance:")


def _define(code):
    return "\n\n" + code.strip() + "\n"


# problem set -> part letter -> (answer cell to extend, code appended to it, phrases required)
MISTAKES = {
    "ps1_moments/moments": {
        "A": (
            "expectation",
            _define("""
def expectation(values, probs):
    return float(np.mean(values * probs))  # a plain mean of the products
"""),
            NUMERIC,
        ),
        "B": (
            "two_pass_var",
            _define("""
def two_pass_var(x, ddof=0):
    return x.var(axis=0).astype(x.dtype)  # ddof ignored
"""),
            NUMERIC,
        ),
        "C": (
            "textbook_var",
            _define("""
def textbook_var(x):
    return ((x * x).mean(axis=0) - x.mean(axis=0)).astype(x.dtype)  # the mean not squared
"""),
            NUMERIC,
        ),
        "D": (
            "welford",
            _define("""
def welford(x):
    count, mean, m2 = 0, np.zeros(x.shape[1:], x.dtype), np.zeros(x.shape[1:], x.dtype)
    for row in x:
        count += 1
        delta = row - mean
        mean = mean + delta / count
        m2 = m2 + delta * delta  # the old mean twice
    return count, mean, m2
"""),
            NUMERIC,
        ),
        "E": (
            "skew_kurt",
            _define("""
def skew_kurt(x):
    d = x - x.mean(axis=0)
    m2 = (d**2).mean(axis=0)
    return (d**3).mean(axis=0) / m2**1.5, (d**4).mean(axis=0) / m2**2  # Pearson's kurtosis
"""),
            NUMERIC,
        ),
    },
    "ps2_gradient_variance/gradient_variance": {
        "A": (
            "minibatch_grad_var",
            _define("""
def minibatch_grad_var(G, B, replace=True):
    return (G.var(axis=0, ddof=1) / B).astype(G.dtype)  # the unbiased variance
"""),
            NUMERIC + ("1.2 times",),
        ),
        "B": (
            "simulate_grad_var",
            _define("""
def simulate_grad_var(G, B, replace=True, n_draws=2000, rng=None):
    n = G.shape[0]  # draws with np.random, not with rng
    return np.array([G[np.random.randint(0, n, B)].mean(axis=0) for _ in range(n_draws)]).var(0)
"""),
            ("values differ", "largest absolute difference:"),
        ),
        "C": (
            "loglog_slope",
            _define("""
def loglog_slope(Bs, vs):
    return float(np.polyfit(Bs, np.log(vs), 1)[0])  # B not on a log scale
"""),
            NUMERIC,
        ),
        "D": ("quiz", "\nstd_ratio = str(std_ratio)\n", ("expected a float, got str",)),
    },
    "ps3_bn_forward/bn_forward": {
        "A": (
            "normalize",
            _define("""
def normalize(x, eps=1e-5):
    return ((x - x.mean(axis=0)) / np.sqrt(x.var(axis=0, ddof=1) + eps)).astype(x.dtype)
"""),
            NUMERIC + ("about 0.9 times",),
        ),
        "B": (
            "bn_forward",
            _define("""
def bn_forward(x, gamma, beta, eps=1e-5):
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)  # statistics over axis 0 only
    xh = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps)
    return (gamma.reshape(shape) * xh + beta.reshape(shape)).astype(x.dtype)
"""),
            NUMERIC,
        ),
        "C": (
            "undo",
            _define("""
def undo_params(x, eps=1e-5):
    return np.sqrt(x.var(axis=0)).astype(x.dtype), x.mean(axis=0).astype(x.dtype)  # no eps
"""),
            NUMERIC,
        ),
        "D": (
            "mean_square",
            _define("""
def mean_square_xhat(var, eps):
    return var / (np.sqrt(var) + eps) ** 2  # eps outside the square root
"""),
            NUMERIC,
        ),
        "E": ("quiz", "\nn_learnable = str(n_learnable)\n", ("expected an int or float, got str",)),
    },
    "ps4_bn_backward/bn_backward": {
        "A": (
            "param_grads",
            _define("""
def param_grads(dy, x_hat):
    return (dy * x_hat).mean(axis=0), dy.mean(axis=0)  # means, not sums
"""),
            NUMERIC + ("0.5 times",),
        ),
        "B": (
            "bn_backward",
            _define("""
def bn_backward(dy, x, gamma, eps=1e-5):
    m, inv = x.shape[0], 1 / np.sqrt(x.var(axis=0) + eps)
    xh = (x - x.mean(axis=0)) * inv
    dgamma, dbeta = (dy * xh).sum(axis=0), dy.sum(axis=0)
    return gamma * inv / m * (m * dy - dbeta), dgamma, dbeta  # the variance path forgotten
"""),
            NUMERIC,
        ),
        "C": ("we3", "\nwe3_dx = np.array([[0.5], [-0.5]])  # dy, not dx\n", NUMERIC),
        "D": (
            "sympy_partials",
            _define("""
def dxhat_dvar(x, mu, v, eps):
    return -(x - mu) * (v + eps) ** sp.Rational(-3, 2)  # the factor 1/2 lost
"""),
            NUMERIC + ("2 times",),
        ),
        "E": ("quiz", "\nn_coupled = str(n_coupled)\n", ("expected an int or float, got str",)),
    },
    "ps5_train_inference/train_inference": {
        "A": (
            "update_running",
            _define("""
def update_running(running_mean, running_var, batch_mean, batch_var, n, momentum=0.1,
                   convention="torch"):
    w = momentum if convention == "torch" else 1 - momentum  # no n / (n - 1) for torch
    return (1 - w) * running_mean + w * batch_mean, (1 - w) * running_var + w * batch_var
"""),
            NUMERIC,
        ),
        "B": (
            "inference_affine",
            _define("""
def inference_affine(running_mean, running_var, gamma, beta, eps=1e-5):
    scale = gamma / (running_var + eps)  # the variance, not the standard deviation
    return scale, beta - running_mean * scale
"""),
            NUMERIC,
        ),
        "C": (
            "op_counts",
            _define("""
def bn_ops(d):
    return 4.0 * d  # a float
"""),
            ("expected an int, got float",),
        ),
        "D": (
            "linear_bn",
            _define("""
def linear_bn(x, W, b, gamma, beta, eps=1e-5):
    z = x @ W.T + b
    return gamma * (z - z.mean(axis=0)) / np.sqrt(z.var(axis=0, ddof=1) + eps) + beta
"""),
            NUMERIC,
        ),
        "E": (
            "fold",
            _define("""
def fold_linear_bn(W, b, running_mean, running_var, gamma, beta, eps=1e-5):
    scale = gamma / np.sqrt(running_var + eps)
    return W * scale[:, None], b + beta - running_mean * scale  # the bias left unscaled
"""),
            NUMERIC,
        ),
        "F": (
            "quiz",
            "\nanswer_why = answer_why.lower()\n",
            ("expected one of 'A', 'B'",),
        ),
        "G": (
            "inference_stats",
            _define("""
def inference_stats(batches):
    return batches.mean(axis=(0, 1)), batches.var(axis=1).mean(axis=0)  # biased variances
"""),
            NUMERIC + ("0.5 times",),
        ),
        "H": (
            "bn_sgd_angles",
            _define("""
def bn_sgd_angles(r0, c, lr, steps):
    sq, out = r0**2, []
    for _ in range(steps):
        sq += (lr * c) ** 2 / sq  # the row grows before its angle is taken
        out.append(np.arctan(lr * c / sq))
    return np.array(out)
"""),
            NUMERIC,
        ),
    },
    "ps6_distributed/distributed_bn": {
        "A": (
            "local_moments",
            _define("""
def local_moments(x_k):
    n = x_k.shape[0]
    mean = x_k.mean(axis=0)
    return n, mean, ((x_k - mean) ** 2).mean(axis=0)  # divided by the count
"""),
            NUMERIC,
        ),
        "B": (
            "merge_moments",
            _define("""
def merge_moments(counts, means, m2s):
    return int(counts.sum()), means[counts > 0].mean(axis=0), m2s.sum(axis=0)  # no spread term
"""),
            NUMERIC,
        ),
        "C": (
            "sync_backward",
            _define("""
def sync_backward(dy, x, gamma, sizes, eps=1e-5):
    cut = np.cumsum(sizes)[:-1]  # each process normalizes with its own statistics
    dxs, dgs, dbs = [], [], []
    for xs, ds in zip(np.split(x, cut), np.split(dy, cut)):
        if len(xs) == 0:
            dxs.append(xs)
            dgs.append(np.zeros(x.shape[1]))
            dbs.append(np.zeros(x.shape[1]))
            continue
        m, inv = len(xs), 1 / np.sqrt(xs.var(axis=0) + eps)
        xh = (xs - xs.mean(axis=0)) * inv
        dg, db = (ds * xh).sum(axis=0), ds.sum(axis=0)
        dxs.append(gamma * inv / m * (m * ds - db - xh * dg))
        dgs.append(dg)
        dbs.append(db)
    return np.concatenate(dxs), np.array(dgs), np.array(dbs)
"""),
            NUMERIC,
        ),
        "D": ("quiz", "\nn_allreduce = str(n_allreduce)\n", ("expected an int or float, got str",)),
    },
}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return release.write_release(tmp_path_factory.mktemp("release") / "public")


def filled(tree, key, mistakes=None):
    """The release's student notebook of `key` with the solutions in, and `mistakes` added."""
    nb = nbformat.read(tree / "exercises" / f"{key}.ipynb", 4)
    solutions = {
        c.metadata.nbgrader.grade_id: c.source
        for c in nbformat.read(ROOT / "solutions" / f"{key}.ipynb", 4).cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in solutions:
            cell.source = solutions[gid]
    for gid, code, _ in (mistakes or {}).values():
        cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)
        cell.source += code
    return nb


def learner_check(tree, path, *args):
    """``python -m bnlab.selfcheck`` as a learner runs it in the release (its own bnlab)."""
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    argv = [sys.executable, "-m", "bnlab.selfcheck", str(path), *args]
    return subprocess.run(argv, cwd=tree, env=env, capture_output=True, text=True, timeout=900)


def part_blocks(text):
    """``{letter: block}`` of the report: each part's line and the lines under it."""
    blocks, letter = {}, None
    for line in text.splitlines():
        words = line.split("Part ", 1)
        if line.startswith("  ") and not line.startswith("   ") and len(words) == 2:
            letter = words[1].split()[0]
            blocks[letter] = [line]
        elif line.startswith("visible tests:"):
            letter = None
        elif letter:
            blocks[letter].append(line)
    return {k: "\n".join(v) for k, v in blocks.items()}


def test_the_release_runs_its_own_bnlab(tree):
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    code = (
        "import bnlab.selfcheck, importlib.util as u; "
        "print(bnlab.selfcheck.__file__, u.find_spec('course.grading'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tree, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0].startswith(str(tree)) and out[1] == "None"


@pytest.mark.parametrize("key", sorted(MISTAKES))
def test_one_mistake_per_part_is_explained(tree, tmp_path, key):
    mistakes = MISTAKES[key]
    path = tmp_path / f"{Path(key).name}-Copy1.ipynb"  # a renamed copy: the stamp identifies it
    nbformat.write(filled(tree, key, mistakes), path)
    done = learner_check(tree, path)
    assert done.returncode == 0, done.stdout + done.stderr
    blocks = part_blocks(done.stdout)
    assert sorted(blocks) == sorted(mistakes), done.stdout
    for letter, (_, _, phrases) in mistakes.items():
        block = blocks[letter]
        head, *details = block.splitlines()
        assert head.split()[0] == "failed" and f"Part {letter} (" in head, block
        message = "\n".join(details)
        assert "expected" in message and "got" in message, block
        for phrase in phrases:
            assert phrase in message, (phrase, block)
    assert "hidden tests decide your grade" in done.stdout


@pytest.mark.parametrize("key", sorted(MISTAKES))
def test_the_solutions_pass_every_visible_test(tree, tmp_path, key):
    path = tmp_path / "renamed.ipynb"
    nbformat.write(filled(tree, key), path)
    done = learner_check(tree, path)
    blocks = part_blocks(done.stdout)
    assert blocks and all(b.split()[0] == "passed" for b in blocks.values()), done.stdout
    visible = done.stdout.split("visible tests: ")[1].split()
    assert visible[0] == visible[2]  # "n of n passed"


class TestUnidentified:
    """A notebook the check cannot take gets one line and exit status 2."""

    @pytest.mark.parametrize(
        "content, says",
        [
            ("not json", "is not a readable notebook"),
            ('{"cells": "x"}', "is not a Jupyter notebook"),
            ('{"cells": [], "metadata": {}}', "is not a problem set of this course"),
        ],
    )
    def test_unreadable_or_foreign(self, tree, tmp_path, content, says):
        path = tmp_path / "x.ipynb"
        path.write_text(content)
        done = learner_check(tree, path)
        assert done.returncode == 2 and done.stdout.count("\n") == 1 and says in done.stdout

    def test_older_release_and_other_problem_set(self, tree, tmp_path):
        nb = json.loads((tree / "exercises/ps3_bn_forward/bn_forward.ipynb").read_text())
        unstamped = json.loads(json.dumps(nb))
        del unstamped["metadata"]["bnlab"]
        older = json.loads(json.dumps(nb))
        older["metadata"]["bnlab"]["digest"] = "0123456789abcdef"
        other = json.loads(json.dumps(nb))
        other["metadata"]["bnlab"]["problem_set"] = "ps9_layer_norm"
        for doc, says in [
            (unstamped, "comes from a release older than this check"),
            (older, "comes from another release of ps3_bn_forward"),
            (other, "belongs to problem set ps9_layer_norm"),
        ]:
            path = tmp_path / "nb.ipynb"
            path.write_text(json.dumps(doc))
            done = learner_check(tree, path)
            assert done.returncode == 2 and done.stdout.count("\n") == 1, done.stdout
            assert says in done.stdout
        path.write_text(json.dumps(nb))
        done = learner_check(tree, path, "--problem-set", "ps1_moments")
        assert "is a notebook of problem set ps3_bn_forward, not of ps1_moments" in done.stdout

    def test_hidden_tests_are_not_in_the_release(self, tree, tmp_path):
        path = tmp_path / "stub.ipynb"
        path.write_text((tree / "exercises/ps1_moments/moments.ipynb").read_text())
        done = learner_check(tree, path, "--hidden")
        assert "not attempted Part A" in done.stdout
        assert "hidden tests: not in this copy of the course" in done.stdout


class TestRegistry:
    """Every visible test is a bnlab.check call, and the package knows every problem set."""

    def test_every_notebook_is_stamped_and_known(self):
        registry = selfcheck.load_registry()
        paths = sorted((ROOT / "exercises").glob("*/*.ipynb"))
        assert len(registry) == len(paths) >= 6
        for path in paths:
            nb = json.loads(path.read_text())
            entry = selfcheck.identify(nb, path.name)
            assert (entry["problem_set"], entry["notebook"]) == (path.parent.name, path.stem)
            assert entry["parts"] and all(part["tests"] for part in entry["parts"])

    def test_visible_tests_use_bnlab_check(self):
        for path in sorted((ROOT / "exercises").glob("*/*.ipynb")):
            for cell in nbformat.read(path, 4).cells:
                if cell.metadata.get("nbgrader", {}).get("grade"):
                    tree = ast.parse(cell.source)
                    where = (path.name, cell.metadata.nbgrader.grade_id)
                    assert not any(isinstance(n, ast.Assert) for n in ast.walk(tree)), where
                    calls = [
                        n.func.id
                        for n in ast.walk(tree)
                        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                    ]
                    assert any(c.startswith("expect_") for c in calls), where
