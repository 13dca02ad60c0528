"""The diffusion training paradigm for general restoration networks (Lu et al.): the workflow.

Any registered backbone becomes a time-conditioned network ``r_theta(x, t)``, pre-trained with the
DDPM objective on clean images, matched to each degradation by a time step ``t_mat``, fine-tuned
for restoration with the GEF regularisers, and trained on many tasks in the order of their
``t_mat`` with MoE adapters prompted by ``t``. Everything trains through the one engine.

The network and its losses sit on the model floor, in :mod:`aioir.models.diffusion` (``schedule``,
``conditioning``, ``moe``, ``network``, ``generative``, ``regularizers``, ``prior``,
``finetune``); this package is the workflow above the engine, one job per module:

* :mod:`~aioir.diffusion.matching` — timestep matching (Algorithm 2) and the t_mat table;
* :mod:`~aioir.diffusion.incremental` — time-sequential incremental stages;
* :mod:`~aioir.diffusion.data` — pairs and clean batches from the run's training stream;
* :mod:`~aioir.diffusion.pipeline` — the runs behind ``aioir diffusion ...``.

See docs/diffusion.md.
"""
