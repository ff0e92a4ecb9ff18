"""course.grading.wire: what a kernel sends can only become plain data or a handle."""

import numpy as np
import pytest

from course.grading import referee, wire


class TestWire:
    """The channel's plain values: what a kernel sends can only become data or a handle."""

    def _round_trip(self, value):
        from course.grading import wire

        return wire.decode(wire.encode(value, to_handle=lambda v: 7), lambda h, t: ("handle", h, t))

    def test_plain_values_keep_type_dtype_and_shape(self):
        x = np.arange(6, dtype=np.float32).reshape(2, 3)
        out = self._round_trip((x, np.float32(1.5), 3, 2.5, "s", None, [True], {"k": 1j}))
        assert out[0].dtype == np.float32 and out[0].shape == (2, 3) and np.array_equal(out[0], x)
        assert type(out[1]) is np.float32 and out[1] == 1.5
        assert out[2:] == (3, 2.5, "s", None, [True], {"k": 1j})

    def test_a_generator_arrives_in_the_same_state(self):
        rng = np.random.default_rng(5)
        rng.random(3)
        copy_ = self._round_trip(rng)
        assert np.array_equal(copy_.random(4), rng.random(4))

    def test_other_objects_stay_behind_as_handles(self):
        assert self._round_trip(object()) == ("handle", 7, "object")
        assert self._round_trip(lambda x: x) == ("handle", 7, "function")

    def test_a_handle_is_no_answer(self):
        """What the kernel could not send is neither true, equal, ordered nor sized."""
        from course.grading import wire

        handle = wire.Remote(None, 1, "Liar")
        for probe in (bool, len, lambda h: h == h, lambda h: h != 0, lambda h: h < 1):
            with pytest.raises(TypeError, match="not a number, string or array"):
                probe(handle)
        with pytest.raises(AssertionError, match="must be numeric|not array-like"):
            referee.agree(lambda x: handle, "bnlab.moments.var", [(np.ones((2, 1)),)])

    def test_a_huge_sympy_expression_is_refused_not_computed(self):
        """Found by a red-team review: sqrt(10**(2*10**8)) hung the whole batch."""
        from course.grading import wire

        bomb = {"$sympy": ["sqrt", ["Pow", ["Integer", "10"], ["Integer", str(2 * 10**8)]]]}
        with pytest.raises(wire.WireError, match="integer larger"):
            wire.decode(bomb, None)
        deep = ["Symbol", "x", {}]
        for _ in range(wire.SYMPY_MAX_NODES + 1):
            deep = ["Add", deep, ["Integer", "1"]]
        with pytest.raises(wire.WireError):
            wire.decode({"$sympy": deep}, None)

    def test_lone_surrogates_from_a_kernel_become_encodable(self):
        import io
        import struct

        from course.grading import wire

        body = b'{"text": "\\ud800"}'
        msg = wire.receive(io.BytesIO(struct.pack(">I", len(body)) + body))
        assert msg["text"].encode("utf-8") == b"?"

    def test_a_learners_subclass_of_the_expected_exception_counts(self):
        from course.grading.session import raised

        exc = raised("ProbabilityError", "bad probs", ["ValueError", "Exception"])
        assert isinstance(exc, ValueError)
        ok = referee.agree  # the reference refuses probabilities that do not sum to 1

        def student(v, p):
            raise exc

        ok(student, "course.grading.references.expectation", [(np.ones(2), np.ones(2))])
        assert type(raised("Oops\n[passed]", "x")).__name__ == "Exception"

    def test_sympy_expressions_are_rebuilt_from_allowed_classes(self):
        import sympy as sp

        x, v = sp.symbols("x v", positive=True)
        expr = -(x - 1) / (2 * (v + 1) ** sp.Rational(3, 2))
        assert sp.simplify(self._round_trip(expr) - expr) == 0
        assert self._round_trip(x).is_positive

    def test_object_arrays_pickles_and_unknown_tags_are_refused(self):
        import base64
        import io

        from course.grading import wire

        buf = io.BytesIO()
        np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
        evil = {"$nd": base64.b64encode(buf.getvalue()).decode()}
        with pytest.raises(ValueError):
            wire.decode(evil, None)
        for bad in (
            {"$code": "print(1)"},
            {"$sympy": ["eval", "1"]},
            {"$rng": {"bit_generator": "os"}},
        ):
            with pytest.raises(wire.WireError):
                wire.decode(bad, None)

    def test_oversized_messages_are_refused(self):
        import io
        import struct

        from course.grading import wire

        with pytest.raises(wire.WireError, match="larger than"):
            wire.receive(io.BytesIO(struct.pack(">I", wire.MAX_MESSAGE + 1) + b"{}"))


def test_a_handle_type_name_is_an_identifier_or_nothing():
    forged = "x\n  27.0 /  27.0  total"
    value = wire.decode({"$remote": 1, "type": forged}, lambda h, t: t)
    assert value == "object"
    assert wire.decode({"$remote": 1, "type": "Batch"}, lambda h, t: t) == "Batch"
