"""The channel between the trusted grader and a submission's kernel: framing and plain values.

Both ends import this module. A message is a 4-byte big-endian length followed by that many
bytes of JSON. Values cross as plain data only, never as pickles or code:

- ``None``, ``bool``, ``int``, ``float``, ``str``, ``list``;
- ``tuple``, ``dict`` (string keys), ``complex``, numpy scalars and arrays of numeric or boolean
  dtype (``.npy`` bytes read with ``allow_pickle=False``), a ``numpy.random.Generator`` (its bit
  generator's state), and sympy expressions built from an allow-list of classes (problem set 4);
- anything else is left where it lives and crosses as a *handle*: ``{"$remote": id}``.

:func:`decode` rebuilds only those types, so whatever a kernel sends, the trusted side gets
numbers, strings, arrays and containers of them, or a handle it can only call through the channel.
"""

import base64
import io
import json
import struct

import numpy as np

#: the largest message either side accepts (bytes)
MAX_MESSAGE = 64 * 2**20
MAX_DEPTH = 20

#: sympy classes an expression may be built from (constructed by name, never evaluated)
SYMPY_CLASSES = (
    "Add", "Mul", "Pow", "Symbol", "Integer", "Rational", "Float", "exp", "log", "sqrt", "Abs",
    "sin", "cos", "tan", "tanh", "sinh", "cosh", "atan", "sign", "Derivative", "Tuple",
    "Half", "One", "Zero", "NegativeOne", "Pi", "E",
)  # fmt: skip
#: bounds that keep building and simplifying a received expression quick: the number of nodes
#: and the size of every integer in it (an answer's expressions have a few dozen small ones)
SYMPY_MAX_NODES = 500
SYMPY_MAX_INT = 10**4


class WireError(ValueError):
    """A message that is not what the protocol allows."""


def send(stream, message):
    data = json.dumps(message, allow_nan=True).encode()
    stream.write(struct.pack(">I", len(data)) + data)
    stream.flush()


def receive(stream):
    """The next message of `stream`, or None at end of stream."""
    head = _read_exactly(stream, 4)
    if head is None:
        return None
    (n,) = struct.unpack(">I", head)
    if n > MAX_MESSAGE:
        raise WireError(f"message of {n} bytes is larger than {MAX_MESSAGE}")
    body = _read_exactly(stream, n)
    if body is None:
        return None
    return _scrub(json.loads(body), 0)


def _scrub(value, depth):
    """`value` with every string made encodable (a lone surrogate from ``"\\ud800"`` in the
    JSON becomes "?"), so no text of a kernel can break writing the feedback."""
    if depth > MAX_DEPTH * 5:
        raise WireError("message nested too deeply")
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, list):
        return [_scrub(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {_scrub(k, depth + 1): _scrub(v, depth + 1) for k, v in value.items()}
    return value


def _read_exactly(stream, n):
    chunks, got = [], 0
    while got < n:
        chunk = stream.read(n - got)
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _npy(a):
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return base64.b64encode(buf.getvalue()).decode()


def _from_npy(text):
    a = np.load(io.BytesIO(base64.b64decode(text)), allow_pickle=False)
    if a.dtype.kind not in "biufc":
        raise WireError(f"array of dtype {a.dtype} is not allowed")
    return a


def encode(value, to_handle=None, depth=0):
    """`value` as JSON-ready plain data. Values that are not plain go to ``to_handle(value)``,
    which returns an id (the kernel's side); without it they raise :class:`TypeError`."""
    if depth > MAX_DEPTH:
        raise TypeError("value nested too deeply to send")
    if value is None or isinstance(value, (bool, str)) or type(value) in (int, float):
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufc":
        return {"$nd": _npy(np.array(value, copy=True, subok=False))}
    if isinstance(value, np.generic) and value.dtype.kind in "biufc":
        return {"$np": _npy(np.asarray(value))}
    if type(value) is complex:
        return {"$complex": [value.real, value.imag]}
    if type(value) is list:
        return [encode(v, to_handle, depth + 1) for v in value]
    if type(value) is tuple:
        return {"$tuple": [encode(v, to_handle, depth + 1) for v in value]}
    if type(value) is dict and all(type(k) is str for k in value):
        return {"$dict": [[k, encode(v, to_handle, depth + 1)] for k, v in value.items()]}
    if isinstance(value, np.random.Generator):
        return {"$rng": value.bit_generator.state}
    sym = _sympy_tree(value, depth)
    if sym is not None:
        return {"$sympy": sym}
    if isinstance(value, Remote):
        return {"$remote": value.handle}
    if to_handle is not None:
        return {"$remote": to_handle(value), "type": type(value).__name__}
    raise TypeError(f"cannot send a value of type {type(value).__name__}")


def decode(data, from_handle, depth=0):
    """The value `data` encodes; a handle becomes ``from_handle(id, type_name)``."""
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    if data is None or isinstance(data, (bool, str)) or type(data) in (int, float):
        return data
    if type(data) is list:
        return [decode(v, from_handle, depth + 1) for v in data]
    if type(data) is not dict or len(data) not in (1, 2):
        raise WireError("malformed value")
    (tag,) = [k for k in data if k.startswith("$")] or [None]
    body = data.get(tag)
    if tag == "$nd":
        return _from_npy(body)
    if tag == "$np":
        return _from_npy(body)[()]
    if tag == "$complex":
        return complex(float(body[0]), float(body[1]))
    if tag == "$tuple":
        return tuple(decode(v, from_handle, depth + 1) for v in body)
    if tag == "$dict":
        return {str(k): decode(v, from_handle, depth + 1) for k, v in body}
    if tag == "$rng":
        return _generator(body)
    if tag == "$sympy":
        return _sympy_build(body, 0, [SYMPY_MAX_NODES])
    if tag == "$remote":
        return from_handle(int(body), _type_name(data.get("type")))
    raise WireError(f"unknown tag {tag!r}")


def _type_name(name):
    """A handle's type name as the kernel gave it, if it is an identifier (a class's
    ``__name__`` can be any string, newlines included), else "object"."""
    ok = isinstance(name, str) and name.isidentifier() and name.isascii() and len(name) <= 80
    return name if ok else "object"


def _generator(state):
    name = state.get("bit_generator") if type(state) is dict else None
    if name not in ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64"):
        raise WireError(f"unknown bit generator {name!r}")
    bg = getattr(np.random, name)()
    bg.state = state
    return np.random.Generator(bg)


class Remote:
    """A value that stayed in the kernel; the trusted side can only call it or ask for an
    attribute, through the channel (see :class:`course.grading.session.Session`)."""

    def __init__(self, session, handle, type_name):
        self._session, self.handle, self.type_name = session, handle, type_name

    def __call__(self, *args, **kwargs):
        return self._session.call(self.handle, args, kwargs)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return self._session.getattr(self.handle, name)

    def __repr__(self):
        return f"<{self.type_name} object in the submission's kernel>"

    # a handle is no answer: it is neither true nor false, equal to nothing, and has no order,
    # so no test can pass because the submission returned something it cannot send
    def _refuse(self, *args):
        raise TypeError(
            f"the submission returned a {self.type_name}, which is not a number, string or array"
        )

    __bool__ = __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __len__ = _refuse
    __hash__ = None


# ------------------------------------------------------------------------ sympy expressions


def _sympy_tree(value, depth):
    """``[class name, args...]`` for a sympy expression of allowed classes, else None."""
    mod = type(value).__module__ or ""
    if not mod.startswith("sympy"):
        return None
    import sympy

    if depth > MAX_DEPTH * 5:
        raise TypeError("sympy expression too deep to send")
    if isinstance(value, sympy.Symbol):
        assumptions = {k: v for k, v in value.assumptions0.items() if v is not None}
        return ["Symbol", value.name, assumptions]
    if isinstance(value, sympy.Integer):
        return ["Integer", str(int(value))]
    if isinstance(value, sympy.Rational):
        return ["Rational", str(value.p), str(value.q)]
    if isinstance(value, sympy.Float):
        return ["Float", str(value)]
    if value is sympy.pi:
        return ["Pi"]
    if value is sympy.E:
        return ["E"]
    name = type(value).__name__
    if name not in SYMPY_CLASSES or not isinstance(value, sympy.Basic):
        raise TypeError(f"cannot send a sympy {name}")
    return [name, *(_sympy_tree(a, depth + 1) for a in value.args)]


def _sympy_build(tree, depth, budget):
    import sympy

    if depth > MAX_DEPTH * 5 or type(tree) is not list or not tree or tree[0] not in SYMPY_CLASSES:
        raise WireError("malformed sympy expression")
    budget[0] -= 1
    if budget[0] < 0:
        raise WireError(f"sympy expression of more than {SYMPY_MAX_NODES} nodes")
    name, args = tree[0], tree[1:]
    if any(isinstance(a, str) and len(a) > 200 for a in args):
        raise WireError("sympy expression with an oversized name or number")
    if name in ("Integer", "Rational") and any(abs(int(a)) > SYMPY_MAX_INT for a in args):
        raise WireError(f"sympy integer larger than {SYMPY_MAX_INT}")
    if name == "Symbol":
        flags = {str(k): bool(v) for k, v in dict(args[1]).items()}
        return sympy.Symbol(str(args[0]), **flags)
    if name == "Integer":
        return sympy.Integer(int(args[0]))
    if name == "Rational":
        return sympy.Rational(int(args[0]), int(args[1]))
    if name == "Float":
        return sympy.Float(str(args[0]))
    if name == "Pi":
        return sympy.pi
    if name == "E":
        return sympy.E
    parts = [_sympy_build(a, depth + 1, budget) for a in args]
    if name == "Tuple":
        return sympy.Tuple(*parts)
    # never evaluated while built: sqrt(10**N) or exp of a huge number stays a tree
    return getattr(sympy, name)(*parts, evaluate=False)
