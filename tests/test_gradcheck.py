import numpy as np
import pytest
import torch

from bnlab.gradcheck import numerical_gradient, rel_error

rng = np.random.default_rng(0)


def logsumexp(x):
    return np.log(np.sum(np.exp(x)))


def softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


A = rng.standard_normal((4, 4))
W = rng.standard_normal((3, 5))

# (f, analytic gradient) pairs with closed-form derivatives
SCALAR_CASES = {
    "sum_exp_times_x2": (lambda x: np.sum(np.exp(x) * x**2), lambda x: np.exp(x) * (x**2 + 2 * x)),
    "logsumexp": (logsumexp, softmax),
    "quadratic_form": (lambda x: x @ A @ x, lambda x: (A + A.T) @ x),
    "frobenius_norm": (lambda x: np.sqrt(np.sum(x**2)), lambda x: x / np.sqrt(np.sum(x**2))),
}
SHAPES = {
    "sum_exp_times_x2": (3, 4),
    "logsumexp": (6,),
    "quadratic_form": (4,),
    "frobenius_norm": (2, 3, 2),
}


class TestNumericalGradient:
    @pytest.mark.parametrize("name", SCALAR_CASES)
    def test_matches_analytic_gradient(self, name):
        f, grad = SCALAR_CASES[name]
        x = np.random.default_rng(1).uniform(0.5, 1.5, SHAPES[name])
        dx = numerical_gradient(f, x)
        assert dx.shape == x.shape and dx.dtype == np.float64
        assert rel_error(dx, grad(x)) < 1e-8

    def test_vector_jacobian_product_matches_analytic(self):
        # f(x) = tanh(x @ W), so d/dx sum(f * dy) = ((1 - f^2) * dy) @ W.T
        x = np.random.default_rng(2).standard_normal((2, 3))
        dy = np.random.default_rng(3).standard_normal((2, 5))
        dx = numerical_gradient(lambda x: np.tanh(x @ W), x, dy=dy)
        assert rel_error(dx, ((1 - np.tanh(x @ W) ** 2) * dy) @ W.T) < 1e-8

    def test_matches_torch_autograd(self):
        x = np.random.default_rng(4).standard_normal((3, 3))
        dy = np.random.default_rng(5).standard_normal((3, 3))

        def f(x):
            return np.log1p(np.exp(x @ x.T)) * np.sin(x)

        xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        (torch.nn.functional.softplus(xt @ xt.T) * torch.sin(xt)).backward(torch.tensor(dy))
        assert rel_error(numerical_gradient(f, x, dy=dy), xt.grad.numpy()) < 1e-8

    def test_x_restored_after_each_perturbation(self):
        x = np.random.default_rng(6).standard_normal((2, 3))
        x0 = x.copy()
        seen = []

        def f(x):
            changed = np.flatnonzero(x != x0)
            assert changed.size == 1
            seen.append((int(changed[0]), float((x - x0).flat[changed[0]])))
            return np.sum(x**2)

        numerical_gradient(f, x, h=1e-3)
        np.testing.assert_array_equal(x, x0)
        assert [i for i, _ in seen] == [i for i in range(6) for _ in (0, 1)]
        np.testing.assert_allclose([d for _, d in seen], [1e-3, -1e-3] * 6, rtol=1e-9)

    def test_x_restored_when_f_raises(self):
        x = np.ones(3)

        def f(x):
            raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            numerical_gradient(f, x)
        np.testing.assert_array_equal(x, np.ones(3))

    def test_f_returning_its_input_is_safe(self):
        x = np.array([1.0, 2.0])
        np.testing.assert_allclose(
            numerical_gradient(lambda x: x, x, dy=np.array([3.0, 4.0])), [3, 4]
        )

    def test_float32_uses_the_step_actually_taken(self):
        x = np.array([1000.0, -3.0], dtype=np.float32)
        dx = numerical_gradient(lambda x: float(np.sum(x.astype(np.float64) ** 2)), x, h=1e-3)
        assert dx.dtype == np.float32
        assert rel_error(dx, 2 * x.astype(np.float64)) < 1e3 * np.finfo(np.float32).eps

    def test_truncation_error_is_second_order(self):
        # for exp at 0 the error is h^2 / 6 + O(h^4): h ten times smaller, error 100 times smaller
        errors = [
            numerical_gradient(lambda x: np.sum(np.exp(x)), np.zeros(1), h=h)[0] - 1
            for h in (1e-2, 1e-3)
        ]
        assert errors[0] == pytest.approx(1e-4 / 6, rel=1e-3)
        assert errors[0] / errors[1] == pytest.approx(100, rel=1e-3)

    def test_non_scalar_f_without_dy_raises(self):
        with pytest.raises(ValueError, match="f must return a scalar when dy is None"):
            numerical_gradient(lambda x: x, np.ones(2))

    def test_dy_of_wrong_shape_raises(self):
        with pytest.raises(ValueError, match=r"dy must have the shape of f\(x\), \(2,\)"):
            numerical_gradient(lambda x: x, np.ones(2), dy=np.ones(3))

    @pytest.mark.parametrize(
        ("h", "error"), [(0.0, ValueError), (-1e-5, ValueError), ("1", TypeError)]
    )
    def test_bad_h_raises(self, h, error):
        with pytest.raises(error, match="h must be"):
            numerical_gradient(np.sum, np.ones(2), h=h)

    def test_integer_x_raises(self):
        with pytest.raises(TypeError, match="x must have dtype float32 or float64"):
            numerical_gradient(np.sum, np.arange(3))


class TestRelError:
    def test_matches_definition(self):
        a, b = np.random.default_rng(7).standard_normal((2, 5, 4))
        expected = max(
            abs(ai - bi) / max(1e-8, abs(ai) + abs(bi))
            for ai, bi in zip(a.flat, b.flat, strict=True)
        )
        assert rel_error(a, b) == pytest.approx(expected, rel=1e-15)
        assert rel_error(a, b) == rel_error(b, a)

    def test_known_values(self):
        assert rel_error(np.array([1.0, 0.0]), np.array([3.0, 0.0])) == 0.5
        assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
        assert rel_error(np.array([1.0]), np.array([-1.0])) == 1.0
        assert rel_error(np.array([0.0]), np.array([1e-9])) == pytest.approx(0.1)
        assert rel_error(2.0, 2) == 0.0

    def test_bad_input_raises(self):
        with pytest.raises(
            ValueError, match=r"a and b must have the same shape, got \(2,\) and \(3,\)"
        ):
            rel_error(np.ones(2), np.ones(3))
        with pytest.raises(TypeError, match="a must be a real numeric array"):
            rel_error(np.ones(2, complex), np.ones(2))
        with pytest.raises(ValueError, match="must not be empty"):
            rel_error(np.ones(0), np.ones(0))
