"""The diffusion training paradigm for general restoration networks (Lu et al.).

Any registered backbone becomes a time-conditioned network ``r_theta(x, t)``
(:mod:`~aioir.diffusion.network`, registered as the backbone ``diffusion``), pre-trained with the
DDPM objective on clean images, matched to each degradation by a time step ``t_mat``, fine-tuned
for restoration with the GEF regularisers, and trained on many tasks in the order of their
``t_mat`` with MoE adapters prompted by ``t``. Everything trains through the one engine.

Modules, one job each:

* :mod:`~aioir.diffusion.schedule` — the noise schedule and DDPM maths (T = 50);
* :mod:`~aioir.diffusion.conditioning` — time embedding, FiLM heads, the choice of blocks;
* :mod:`~aioir.diffusion.moe` — MoE adapters with time-based prompts;
* :mod:`~aioir.diffusion.network` — the wrapper and its engine hooks (``train_forward``);
* :mod:`~aioir.diffusion.generative` — the generative objective and the sampler;
* :mod:`~aioir.diffusion.matching` — timestep matching (Algorithm 2) and the t_mat table;
* :mod:`~aioir.diffusion.regularizers`, :mod:`~aioir.diffusion.prior`,
  :mod:`~aioir.diffusion.finetune` — L_reg, L_orthog and the GEF step;
* :mod:`~aioir.diffusion.incremental` — time-sequential incremental stages;
* :mod:`~aioir.diffusion.pipeline` — the runs behind ``aioir diffusion ...``.

See docs/diffusion.md.
"""
