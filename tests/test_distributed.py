"""bnlab.distributed against single-process BN on the concatenated batch, on real gloo processes.

The oracles are torch.nn.functional.batch_norm in float64 (forward, autograd gradients, running
statistics, eval mode) and bnlab.batchnorm (numpy), both run on the whole batch in this process.
The processes are real: `bnlab.processes.run_distributed` starts them, and each launch runs many
checks (two layouts, three training steps, eval mode, the functional form), so that the file
starts processes only a few times.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bnlab import batchnorm as bn
from bnlab.bn_on_slices import SliceCase, batch_norm_on_slices
from bnlab.dataparallel import Run, train_data_parallel
from bnlab.distributed import (
    SyncBatchNorm,
    convert_sync_batchnorm,
    local_moments,
    merge_moments,
    sync_batch_norm,
)
from bnlab.layer import BatchNorm
from bnlab.processes import ProcessFailed, run_distributed
from bnlab.torch_sync import DDPRun, cpu_kernels, ddp_train, subgroups, torch_and_bnlab

# Examples per process: unequal slices, a process with a single example, one with none.
WORLDS = {1: [5], 2: [1, 4], 3: [3, 1, 5], 4: [2, 0, 3, 1]}
SPATIAL = {"(N, C)": (), "(N, C, H, W)": (2, 3)}
C, STEPS, EPS, MOMENTUM = 3, 3, 1e-5, 0.1
SEEDS = (0, 1)
ATOL = 1e-12  # float64 round-off, relative to the size of the compared values


def make_batches(sizes, spatial, seed):
    """STEPS batches x of N = sum(sizes) examples with a large per-channel offset, dy, params."""
    g = torch.Generator().manual_seed(seed)
    shape = (STEPS, sum(sizes), C, *spatial)
    view = (1, 1, C) + (1,) * len(spatial)
    offset = 100.0 * torch.randn(C, generator=g, dtype=torch.float64).view(view)
    scale = torch.rand(C, generator=g, dtype=torch.float64).view(view) + 0.5
    x = offset + scale * torch.randn(shape, generator=g, dtype=torch.float64)
    dy = torch.randn(shape, generator=g, dtype=torch.float64)
    gamma = torch.rand(C, generator=g, dtype=torch.float64) + 0.5
    beta = torch.randn(C, generator=g, dtype=torch.float64)
    x_eval = offset[0] + torch.randn(shape[1:], generator=g, dtype=torch.float64)
    return x, dy, gamma, beta, x_eval


def slice_case(x, dy, gamma, beta, x_eval, sizes):
    split = [list(torch.split(t, sizes, dim=1)) for t in (x, dy)]
    return SliceCase(
        tuple(split[0]),
        tuple(split[1]),
        gamma,
        beta,
        EPS,
        MOMENTUM,
        tuple(torch.split(x_eval, sizes)),
    )


def torch_oracle(x, dy, gamma, beta, x_eval):
    """Single-process torch BN on each whole batch: outputs, gradients, running statistics."""
    rm, rv = torch.zeros(C, dtype=torch.float64), torch.ones(C, dtype=torch.float64)
    out = {k: [] for k in ("y", "dx", "dgamma", "dbeta", "running_mean", "running_var")}
    for x_t, dy_t in zip(x, dy, strict=True):
        xt, gt, bt = (a.clone().requires_grad_() for a in (x_t, gamma, beta))
        y = F.batch_norm(xt, rm, rv, gt, bt, training=True, momentum=MOMENTUM, eps=EPS)
        y.backward(dy_t)
        for key, value in zip(out, (y, xt.grad, gt.grad, bt.grad, rm, rv), strict=True):
            out[key].append(value.detach().clone())
    out = {k: torch.stack(v) for k, v in out.items()}
    out["y_eval"] = F.batch_norm(x_eval, rm, rv, gamma, beta, training=False, eps=EPS)
    return out


def assert_close(actual, expected):
    scale = max(1.0, expected.abs().max().item()) if expected.numel() else 1.0
    torch.testing.assert_close(actual, expected, rtol=0, atol=ATOL * scale)


@pytest.fixture(scope="module", params=sorted(WORLDS), ids=lambda w: f"world{w}")
def world(request):
    """One launch of `world_size` processes; per layout: inputs, oracle and every rank's result."""
    world_size, sizes = request.param, WORLDS[request.param]
    batches = {name: make_batches(sizes, sp, seed=world_size) for name, sp in SPATIAL.items()}
    cases = [slice_case(*b, sizes) for b in batches.values()]
    results = run_distributed(batch_norm_on_slices, world_size, *cases)
    return {
        name: (batches[name], torch_oracle(*batches[name]), [r[i] for r in results])
        for i, name in enumerate(SPATIAL)
    }


@pytest.fixture(params=list(SPATIAL))
def layout(world, request):
    return world[request.param]


def gather(ranks, key):
    """The slices of all processes concatenated along the batch axis (axis 1 of (T, N_k, ...))."""
    return torch.cat([r[key] for r in ranks], dim=1)


class TestAgainstSingleProcess:
    def test_forward_matches_torch(self, layout):
        _, oracle, ranks = layout
        assert_close(gather(ranks, "y"), oracle["y"])

    def test_forward_matches_bnlab(self, layout):
        (x, _, gamma, beta, _), _, ranks = layout
        for t in range(STEPS):
            y, _ = bn.forward(x[t].numpy(), gamma.numpy(), beta.numpy(), EPS)
            assert_close(gather(ranks, "y")[t], torch.from_numpy(y))

    def test_input_gradient_matches_autograd(self, layout):
        _, oracle, ranks = layout
        assert_close(gather(ranks, "dx"), oracle["dx"])

    def test_input_gradient_matches_bnlab(self, layout):
        (x, dy, gamma, beta, _), _, ranks = layout
        _, cache = bn.forward(x[0].numpy(), gamma.numpy(), beta.numpy(), EPS)
        dx, _, _ = bn.backward(dy[0].numpy(), cache)
        assert_close(gather(ranks, "dx")[0], torch.from_numpy(dx))

    @pytest.mark.parametrize("key", ["dgamma", "dbeta"])
    def test_parameter_gradients_sum_over_processes(self, layout, key):
        _, oracle, ranks = layout
        assert_close(sum(r[key] for r in ranks), oracle[key])

    def test_parameter_gradients_are_each_slices_share(self, layout):
        (x, dy, *_), _, ranks = layout
        x_hat = torch.stack([F.batch_norm(x_t, None, None, training=True, eps=EPS) for x_t in x])
        dims = (1, *range(3, x.ndim))  # the batch and spatial axes of (T, N, C, *spatial)
        bounds = np.cumsum([0] + [r["y"].shape[1] for r in ranks])
        for r, start, stop in zip(ranks, bounds[:-1], bounds[1:], strict=True):
            own = slice(start, stop)
            assert_close(r["dgamma"], (dy[:, own] * x_hat[:, own]).sum(dims))
            assert_close(r["dbeta"], dy[:, own].sum(dims))

    @pytest.mark.parametrize("key", ["running_mean", "running_var"])
    def test_running_statistics_match_torch(self, layout, key):
        _, oracle, ranks = layout
        for r in ranks:
            assert_close(r[key], oracle[key])

    def test_running_statistics_identical_on_every_process(self, layout):
        _, _, ranks = layout
        for r in ranks[1:]:
            assert torch.equal(r["running_var"], ranks[0]["running_var"])

    def test_running_statistics_match_bnlab_layer(self, layout):
        (x, *_), _, ranks = layout
        layer = BatchNorm(C)
        for t in range(STEPS):
            layer(x[t].numpy())
        assert_close(ranks[0]["running_var"][-1], torch.from_numpy(layer.running_var))
        assert_close(ranks[0]["running_mean"][-1], torch.from_numpy(layer.running_mean))

    def test_eval_mode_uses_running_statistics(self, layout):
        _, oracle, ranks = layout
        assert_close(torch.cat([r["y_eval"] for r in ranks]), oracle["y_eval"])

    @pytest.mark.parametrize("key", ["y", "dx"])
    def test_function_matches_torch(self, layout, key):
        _, oracle, ranks = layout
        assert_close(torch.cat([r["function"][key] for r in ranks]), oracle[key][0])

    @pytest.mark.parametrize("key", ["dgamma", "dbeta"])
    def test_function_parameter_gradients_sum(self, layout, key):
        _, oracle, ranks = layout
        assert_close(sum(r["function"][key] for r in ranks), oracle[key][0])


@pytest.fixture(scope="module")
def mixed():
    """float32 at a large offset and momentum=None: one launch of 2 processes."""
    g = torch.Generator().manual_seed(7)
    sizes = [3, 5]
    x32 = (1e4 + torch.randn(1, 8, C, generator=g, dtype=torch.float64)).float()
    ones = torch.ones(C, dtype=torch.float32)
    case32 = SliceCase(
        tuple(torch.split(x32, sizes, dim=1)),
        tuple(torch.split(torch.ones_like(x32), sizes, dim=1)),
        ones,
        0 * ones,
    )
    x, dy, gamma, beta, _ = make_batches(sizes, (), seed=8)
    case_cma = SliceCase(
        tuple(torch.split(x, sizes, dim=1)),
        tuple(torch.split(dy, sizes, dim=1)),
        gamma,
        beta,
        momentum=None,
    )
    results = run_distributed(batch_norm_on_slices, 2, case32, case_cma)
    return (x32, x), [r[0] for r in results], [r[1] for r in results]


class TestMixedInputs:
    """float32 at a large offset and the cumulative running average (momentum=None), 2 processes."""

    def test_float32_at_large_offset_as_accurate_as_float32_allows(self, mixed):
        (x32, _), ranks, _ = mixed
        y = gather(ranks, "y")[0].double()
        expected = F.batch_norm(x32[0].double(), None, None, training=True, eps=EPS)
        # x - mean in float32 at 1e4 is exact to ~1e-3 (half an ulp of 1e4); x_hat ~ 1.
        assert (y - expected).abs().max().item() < 5e-3
        assert y.dtype == torch.float64 and ranks[0]["y"].dtype == torch.float32

    def test_cumulative_running_average_matches_torch(self, mixed):
        (_, x), _, ranks = mixed
        ref = torch.nn.BatchNorm1d(C, eps=EPS, momentum=None).double()
        for x_t in x:
            ref(x_t)
        assert_close(ranks[0]["running_mean"][-1], ref.running_mean)
        assert_close(ranks[1]["running_var"][-1], ref.running_var)


@pytest.fixture(scope="module")
def trained():
    """SGD data-parallel on 3 processes (sync BN, no BN, local BN) and alike on 1 process."""
    kw = dict(seeds=SEEDS, steps=12, eval_every=6, width=16)
    short = kw | {"steps": 3}
    distributed = run_distributed(
        train_data_parallel,
        3,
        Run("sync", per_process=2, **kw),
        Run(None, per_process=2, **kw),
        Run("local", per_process=2, **kw),
        Run("local", per_process=2, **short),
    )
    single = train_data_parallel(
        0,
        1,
        Run("local", per_process=6, **kw),
        Run(None, per_process=6, **kw),
        Run("ghost", per_process=6, ghost_size=2, **short),
    )
    return distributed, single


class TestDataParallelTraining:
    """A few SGD steps data-parallel on 3 processes against single-process training."""

    @pytest.mark.parametrize("i", [0, 1], ids=["sync BN", "no BN"])
    def test_equals_single_process_on_the_union_batch(self, trained, i):
        distributed, single = trained
        assert_close(distributed[0][i]["params"], single[i]["params"])
        for h_dist, h_single in zip(
            distributed[0][i]["histories"], single[i]["histories"], strict=True
        ):
            np.testing.assert_allclose(h_dist.loss, h_single.loss, rtol=1e-12)
            np.testing.assert_array_equal(h_dist.eval_step, [0, 6, 12])

    def test_every_process_holds_the_same_parameters(self, trained):
        distributed, _ = trained
        for rank in distributed[1:]:
            for run, run0 in zip(rank, distributed[0], strict=True):
                assert torch.equal(run["params"], run0["params"])
            assert all(run["histories"] is None for run in rank)

    def test_local_bn_is_ghost_bn_of_the_slice_size(self, trained):
        # Only for a few steps: BN of 2 values amplifies round-off about 5-fold per step.
        distributed, single = trained
        assert_close(distributed[0][3]["params"], single[2]["params"])

    def test_local_bn_trains_a_different_network(self, trained):
        distributed, single = trained
        diff = (distributed[0][2]["params"] - single[0]["params"]).abs().max().item()
        assert diff > 1e-3


class TestMoments:
    def test_local_moments_two_pass(self):
        g = torch.Generator().manual_seed(0)
        x = 1e6 + torch.randn(7, 2, 3, generator=g, dtype=torch.float64)
        n, mean, m2 = local_moments(x.float())
        x64 = x.float().double()
        assert n == 21 and mean.dtype == torch.float64
        assert_close(mean, x64.mean((0, 2)))
        assert_close(m2, ((x64 - x64.mean((0, 2), keepdim=True)) ** 2).sum((0, 2)))

    def test_empty_slice(self):
        n, mean, m2 = local_moments(torch.zeros(0, 4))
        assert n == 0 and mean.tolist() == [0.0] * 4 and m2.tolist() == [0.0] * 4

    @pytest.mark.parametrize("sizes", [[1, 1], [5, 0, 2], [0, 9], [3, 4, 1, 6]])
    def test_merge_equals_whole_batch(self, sizes):
        g = torch.Generator().manual_seed(sum(sizes))
        x = 1e8 + torch.randn(sum(sizes), 2, generator=g, dtype=torch.float64)
        parts = [local_moments(s) for s in torch.split(x, sizes)]
        n, mean, m2 = merge_moments(*zip(*parts, strict=True))
        assert n == sum(sizes)
        centred = x - 1e8  # exact in float64 here: an independent two-pass on small numbers
        torch.testing.assert_close(mean - 1e8, centred.mean(0), rtol=0, atol=1e-7)
        expected = ((centred - centred.mean(0)) ** 2).sum(0)
        torch.testing.assert_close(m2, expected, rtol=1e-6, atol=0)

    def test_merge_needs_a_value(self):
        with pytest.raises(ValueError, match="at least one positive"):
            merge_moments([0, 0], [torch.zeros(1)] * 2, [torch.zeros(1)] * 2)


class TestBadInput:
    """Errors raised in this process: argument checks come before the process-group check."""

    def x(self, *shape):
        return torch.randn(*shape, dtype=torch.float64)

    def test_no_process_group(self):
        with pytest.raises(RuntimeError, match="initialized torch.distributed process group"):
            sync_batch_norm(self.x(4, 3), None, None)

    def test_module_in_training_needs_a_process_group(self):
        with pytest.raises(RuntimeError, match="run_distributed"):
            SyncBatchNorm(3).double()(self.x(4, 3))

    def test_module_in_eval_mode_needs_no_process_group(self):
        layer = SyncBatchNorm(3).double().eval()
        layer.running_mean.fill_(2.0)
        x = self.x(4, 3, 2)
        expected = F.batch_norm(x, layer.running_mean, layer.running_var, training=False)
        assert_close(layer(x), expected)

    @pytest.mark.parametrize(
        "x, gamma, error, match",
        [
            (np.zeros((4, 3)), None, TypeError, "x must be a torch.Tensor"),
            (torch.zeros(4, 3, dtype=torch.int64), None, TypeError, "x must have dtype"),
            (torch.zeros(4), None, ValueError, r"shape \(N, C\)"),
            (torch.zeros(4, 3), torch.ones(2), ValueError, r"gamma must have shape \(3,\)"),
            (torch.zeros(4, 3), torch.ones(3, dtype=torch.float64), TypeError, "dtype of x"),
        ],
    )
    def test_bad_arguments(self, x, gamma, error, match):
        with pytest.raises(error, match=match):
            sync_batch_norm(x, gamma, None)

    def test_module_checks_channels(self):
        with pytest.raises(ValueError, match="num_features=3 entries on axis 1"):
            SyncBatchNorm(3).eval()(torch.zeros(2, 4))

    @pytest.mark.parametrize(
        "kwargs, match",
        [({"num_features": 0}, "num_features"), ({"num_features": 2, "momentum": 2}, "momentum")],
    )
    def test_module_arguments(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            SyncBatchNorm(**kwargs)

    def test_module_without_affine_or_running_stats(self):
        layer = SyncBatchNorm(2, affine=False, track_running_stats=False)
        assert layer.weight is None and layer.running_mean is None
        assert "affine=False" in repr(layer)


class TestBadInputAcrossProcesses:
    def test_processes_disagree_on_channels(self):
        xs = (torch.zeros(1, 2, 3), torch.zeros(1, 2, 4))
        case = SliceCase(xs, xs)  # no gamma and beta: each process's layer has its own C
        match = "disagree on the number of channels C = x.shape.1.: 3 on process 0, 4 on process 1"
        with pytest.raises(ProcessFailed, match=match) as info:
            run_distributed(batch_norm_on_slices, 2, case)
        assert set(info.value.reports) == {0, 1}

    def test_single_value_per_channel_in_the_union(self):
        x = torch.tensor([[1.0, 2.0]])
        case = SliceCase.from_batch(x, sizes=[1, 0])
        with pytest.raises(ProcessFailed, match=r"at least 2 values per channel .*\[1, 0\]"):
            run_distributed(batch_norm_on_slices, 2, case)


class TestTorchSyncKernels:
    """The CPU versions of the five kernels of torch's SyncBatchNorm, against torch autograd.

    Registering them gives this test process CPU kernels it did not have; nothing else here
    calls those operators.
    """

    def test_single_process_forward_and_backward_match_autograd(self):
        cpu_kernels()
        x, dy, gamma, beta, _ = make_batches([4], (2, 3), seed=5)
        x, dy = x[0], dy[0]
        mean, invstd = torch.batch_norm_stats(x, EPS)
        counts = torch.tensor([x.numel() // C], dtype=torch.float64)
        rm, rv = torch.zeros(C, dtype=torch.float64), torch.ones(C, dtype=torch.float64)
        mean, invstd = torch.batch_norm_gather_stats_with_counts(
            x, mean[None], invstd[None], rm, rv, MOMENTUM, EPS, counts
        )
        y = torch.batch_norm_elemt(x, gamma, beta, mean, invstd, EPS)
        sum_dy, sum_dy_xmu, dgamma, dbeta = torch.batch_norm_backward_reduce(
            dy, x, mean, invstd, gamma, True, True, True
        )
        dx = torch.batch_norm_backward_elemt(
            dy, x, mean, invstd, gamma, sum_dy, sum_dy_xmu, counts.to(torch.int32)
        )
        oracle = torch_oracle(x[None], dy[None], gamma, beta, x[:1])
        for key, value in {"y": y, "dx": dx, "dgamma": dgamma, "dbeta": dbeta}.items():
            assert_close(value, oracle[key][0])
        assert_close(rm, oracle["running_mean"][0])
        assert_close(rv, oracle["running_var"][0])


@pytest.fixture(scope="module")
def torch_vs_bnlab():
    sizes = WORLDS[4]
    batches = make_batches(sizes, (2, 3), seed=6)
    case = slice_case(*batches, sizes)
    return batches, torch_oracle(*batches), run_distributed(torch_and_bnlab, len(sizes), case)


class TestTorchSyncAcrossProcesses:
    @pytest.mark.parametrize("key", ["y", "dx"])
    def test_torch_function_matches_single_process(self, torch_vs_bnlab, key):
        _, oracle, ranks = torch_vs_bnlab
        got = torch.stack([torch.cat([r["torch"][t][key] for r in ranks]) for t in range(STEPS)])
        assert_close(got, oracle[key])

    @pytest.mark.parametrize("key", ["dgamma", "dbeta"])
    def test_torch_parameter_gradients_sum(self, torch_vs_bnlab, key):
        _, oracle, ranks = torch_vs_bnlab
        for t in range(STEPS):
            assert_close(sum(r["torch"][t][key] for r in ranks), oracle[key][t])

    def test_torch_running_statistics(self, torch_vs_bnlab):
        _, oracle, ranks = torch_vs_bnlab
        for r in ranks:
            assert_close(r["running"]["torch"][0], oracle["running_mean"][-1])
            assert_close(r["running"]["torch"][1], oracle["running_var"][-1])

    def test_eval_without_running_stats(self, torch_vs_bnlab):
        (x, *_), _, ranks = torch_vs_bnlab
        union = F.batch_norm(x[0], None, None, training=True).split(WORLDS[4])
        for k, r in enumerate(ranks):
            own = x[0].split(WORLDS[4])[k]
            if len(own):
                assert_close(r["eval_no_running"]["bnlab"], union[k])
                assert_close(
                    r["eval_no_running"]["torch"], F.batch_norm(own, None, None, training=True)
                )


class TestConvertSyncBatchnorm:
    def test_keeps_parameters_buffers_and_mode(self):
        net = torch.nn.Sequential(
            torch.nn.Conv2d(2, 3, 1), torch.nn.Sequential(torch.nn.BatchNorm2d(3, momentum=None))
        ).eval()
        inner = net[1][0]
        inner.running_var.fill_(2.0)
        weight = inner.weight
        converted = convert_sync_batchnorm(net)
        layer = converted[1][0]
        assert isinstance(layer, SyncBatchNorm) and layer.momentum is None
        assert layer.weight is weight and not layer.training
        assert torch.equal(layer.running_var, torch.full((3,), 2.0))
        assert list(converted.state_dict()) == [*net.state_dict()]

    def test_refuses_what_is_not_a_module(self):
        with pytest.raises(TypeError, match="module must be a torch.nn.Module"):
            convert_sync_batchnorm("bn")


def test_subgroups_normalize_over_their_own_pair():
    x = torch.randn(12, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    ranks = run_distributed(subgroups, 4, x)
    expected = torch.cat([F.batch_norm(x[i : i + 6], None, None, training=True) for i in (0, 6)])
    for name in ("bnlab", "torch"):
        assert_close(torch.cat([r[name] for r in ranks]), expected)
    assert [r["group_ranks"] for r in ranks] == [[0, 1], [0, 1], [2, 3], [2, 3]]
    assert all(r["converted"] == [r["group_ranks"]] for r in ranks)


def test_ddp_with_synchronized_bn_is_single_process_training():
    runs = [DDPRun("sync", False, per_process=3, steps=3), DDPRun("local", True, 3, steps=3)]
    ranks = run_distributed(ddp_train, 2, *runs, timeout=600)  # DDP is slow on a loaded machine
    alone_run = DDPRun("sync", False, per_process=6, steps=3)
    (alone,) = run_distributed(ddp_train, 1, alone_run, timeout=600)[0]
    assert_close(ranks[0][0]["params"], alone["params"])
    for r in ranks:
        assert torch.equal(r[0]["running_mean"][0], ranks[0][0]["running_mean"][0])
        assert torch.equal(r[1]["running_mean"][1], ranks[0][1]["running_mean"][1])
    assert not torch.equal(ranks[1][1]["running_mean"][0], ranks[0][1]["running_mean"][0])
