"""bnlab: the reference implementations of the course "From Moments to Batch Normalization".

Chapters import from here and exercises are graded against it. One idea per module:

- `bnlab.moments`   expectation, variance, Welford, covariance, skewness, kurtosis (chapters 1-2)
- `bnlab.gradvar`   mini-batch gradient variance, simulated and exact (chapter 3)
- `bnlab.batchnorm` the BN kernels: forward, backward (chapters 4-5), running-average step,
  inference (chapter 6), pure functions of arrays
- `bnlab.layer`     the BN layer: parameters, running statistics, train and eval (chapter 6)
- `bnlab.folding`   folding an eval-mode BN into the layer before it (chapter 7)
- `bnlab.norms`     LayerNorm and GroupNorm forward (chapter 7)
- `bnlab.gradcheck` finite differences and relative error (chapter 5)
- `bnlab.torch_bn`  torch's BN on numpy arrays, the oracle of the kernels (chapters 4-5)
- `bnlab.data`      the digits data set that ships with scikit-learn (chapters 3, 8)
- `bnlab.models`  the torch networks of the experiments: `make_mlp`, noisy BN (chapters 6-8)
- `bnlab.training`  the seeded SGD loop, its `History`, `evaluate`; the batch order and History
  assembly every trainer shares (chapters 6-8)
- `bnlab.diagnostics`  activations, saturation, gradient norms, loss landscape (chapter 8)
- `bnlab.stacked_models` many networks of one architecture as one stacked model (chapter 8)
- `bnlab.stacked_training` training, evaluating and probing such a stack (chapter 8)
- `bnlab.experiments` sweeps over seeds and verdicts as statistics with margins (chapters 8-9)
- `bnlab.plots`     the figures of runs over seeds: mean and range bands (chapter 8)
- `bnlab.style`     the course's figure style and palette
- `bnlab.glue`      values the text of a page shows (myst-nb's glue without myst-nb, chapter 5)
- `bnlab.seeds`     every random seed of the course, shifted by ``BNLAB_SEED``
- `bnlab.distributed` synchronized BN across torch.distributed processes (chapter 9)
- `bnlab.processes` run a function in N local gloo processes, failures raised (chapter 9)
- `bnlab.bn_on_slices` synchronized BN on each process's slice of a batch (chapter 9)
- `bnlab.ghost_bn`  ghost BN: BN with the statistics of each sub-batch (chapter 9)
- `bnlab.dataparallel` data-parallel training with local, synchronized or ghost BN (chapter 9)
- `bnlab.torch_sync` PyTorch's own SyncBatchNorm on CPU processes, subgroups, DDP (chapter 9)
- `bnlab.check`     checks that explain themselves: the visible tests of the problem sets
- `bnlab.selfcheck` a learner runs a problem set's visible tests on their own notebook
- `bnlab.quickcheck` each chapter's quick self-check questions, answered in the page or notebook
- `bnlab._validate`  the argument checks shared by the modules (private)
"""

__version__ = "0.1.0"
