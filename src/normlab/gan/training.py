"""One training loop for every GAN variant of the book: the GAN losses, WGAN with weight
clipping, WGAN-GP, hinge losses, any number of critic steps per generator step.

:func:`train_gan` checks its arguments (:class:`~normlab.gan.config.GANConfig`), builds the
data source (:mod:`normlab.gan.sources`) and the optimizers, resumes from a checkpoint if
asked (:mod:`normlab.gan.checkpoint`), and runs the step loop below. Design choices, each
for a reason:

- **Speed.** The chapters train several methods × several seeds inside a notebook budget, so
  the loop avoids per-step host–device synchronization: losses are written into a tensor
  buffer and copied out only every few steps; metrics run every ``eval_every`` steps.
  In-memory data is batched by indexing, without a ``DataLoader``. Real and generated
  samples go through the critic in one call when it has no batch normalization.
- **Reproducibility.** Noise and data are drawn from the loop's own seeded generators;
  metric callbacks run inside ``torch.random.fork_rng``, so evaluating more or less
  often never changes the training trajectory.
- **Exact resume.** A checkpoint holds every state that training reads; on CPU an
  interrupted and resumed run ends with parameters bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, cast

import torch
from torch import nn

from normlab._validation import check_positive_int
from normlab.gan.checkpoint import Checkpointer
from normlab.gan.config import (
    Evaluate,
    GANConfig,
    OptimizerFactory,
    floating_dtype,
    has_batch_norm,
    latent_size,
    make_optimizer,
)
from normlab.gan.sources import DataSource, make_source
from normlab.gan.steps import CriticStep, critic_step
from normlab.scaffolding.device import get_device
from normlab.scaffolding.progress import hidden, progress_bar
from normlab.scaffolding.timing import Stopwatch

__all__ = [
    "GANHistory",
    "train_gan",
    "generate",
    "has_batch_norm",
    "record_evaluation",
    "SYNC_EVERY",
]

#: How often (in generator steps) the loop reads its loss buffer back to check for NaN when
#: nothing else forces a synchronization (:func:`~normlab.gan.ensemble.train_gan_ensemble`
#: keeps the same schedule, so that a diverging seed stops at the same step).
SYNC_EVERY = 50


@dataclass
class GANHistory:
    """What :func:`train_gan` measured.

    Per generator step (lists of equal length):

    Attributes:
        critic_loss: the critic's loss at the last critic step before the generator step,
            penalty included.
        critic_gap: ``mean f(real) - mean f(fake)`` on that step's batch; for a Wasserstein
            critic, its running estimate of W1 (up to the Lipschitz constant).
        penalty: the gradient penalty at that step, without ``λ`` (NaN when not used).
        generator_loss: the generator's loss.

    Every ``eval_every`` generator steps:

    Attributes:
        eval_steps: the generator steps at which ``evaluate`` ran (0 is before training).
        metrics: the values ``evaluate`` returned, by name, aligned with ``eval_steps``.

    Totals:

    Attributes:
        generator_steps: generator steps done.
        critic_steps: critic steps done.
        critic_seconds: time spent in critic steps (sampling, critic update, penalty,
            clipping), measured with CUDA events on a GPU.
        generator_seconds: time spent in generator steps.
        diverged: True if training stopped because a loss became NaN or infinite.
    """

    critic_loss: list[float] = field(default_factory=list)
    critic_gap: list[float] = field(default_factory=list)
    penalty: list[float] = field(default_factory=list)
    generator_loss: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    generator_steps: int = 0
    critic_steps: int = 0
    critic_seconds: float = 0.0
    generator_seconds: float = 0.0
    diverged: bool = False

    @property
    def seconds_per_critic_step(self) -> float:
        """Mean wall time of one critic step (NaN before the first)."""
        return self.critic_seconds / self.critic_steps if self.critic_steps else math.nan

    @property
    def seconds_per_generator_step(self) -> float:
        """Mean wall time of one generator step (NaN before the first)."""
        if not self.generator_steps:
            return math.nan
        return self.generator_seconds / self.generator_steps

    @property
    def seconds(self) -> float:
        """The time spent in critic and generator steps (metrics and checkpoints excluded)."""
        return self.critic_seconds + self.generator_seconds

    def state_dict(self) -> dict[str, Any]:
        """The history as plain Python containers (what a checkpoint stores)."""
        return asdict(self)

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> GANHistory:
        """Rebuild a history saved with :meth:`state_dict`."""
        state = dict(state)
        state["metrics"] = {k: list(v) for k, v in state["metrics"].items()}
        return cls(**state)


@torch.no_grad()
def generate(
    generator: nn.Module,
    n: int,
    *,
    latent_dim: int | None = None,
    rng: torch.Generator | None = None,
    batch_size: int = 4096,
) -> torch.Tensor:
    """Draw ``n`` samples ``G(z)``, ``z ~ N(0, I)``, without building a graph.

    The generator is used in its current mode (call ``generator.eval()`` first if it has
    batch normalization and you want its running statistics).

    Args:
        generator: the generator; ``latent_dim`` is read from its ``latent_dim`` attribute
            unless given.
        n: number of samples.
        latent_dim: size of ``z``.
        rng: random generator for ``z``, on the generator's device; ``None`` uses the
            global one.
        batch_size: samples per forward pass.

    Returns:
        The samples, ``(n, *sample_shape)``, on the generator's device.
    """
    n = check_positive_int(n, "n")
    batch_size = check_positive_int(batch_size, "batch_size")
    latent_dim = latent_size(generator, latent_dim)
    reference = next(iter(generator.parameters()), None)
    device = reference.device if reference is not None else torch.device("cpu")
    dtype = floating_dtype(generator)
    chunks = []
    for start in range(0, n, batch_size):
        size = min(batch_size, n - start)
        z = torch.randn(size, latent_dim, generator=rng, device=device, dtype=dtype)
        chunks.append(generator(z))
    return torch.cat(chunks)


def train_gan(
    generator: nn.Module,
    critic: nn.Module,
    data: object,
    *,
    loss: str = "non_saturating",
    steps: int = 1000,
    n_critic: int = 1,
    batch_size: int = 64,
    latent_dim: int | None = None,
    gp_weight: float = 0.0,
    clip_value: float | None = None,
    label_smoothing: float = 0.0,
    generator_optimizer: torch.optim.Optimizer | OptimizerFactory | None = None,
    critic_optimizer: torch.optim.Optimizer | OptimizerFactory | None = None,
    device: torch.device | str | None = None,
    seed: int = 0,
    eval_every: int | None = None,
    evaluate: Evaluate | None = None,
    checkpoint_path: str | os.PathLike[str] | None = None,
    checkpoint_every: int | None = None,
    resume: bool = True,
    concatenate_batches: bool | None = None,
    stop_on_divergence: bool = True,
    progress: bool | None = None,
    desc: str | None = None,
) -> GANHistory:
    """Train a GAN: ``n_critic`` critic steps, then one generator step, ``steps`` times.

    A critic step draws a real batch and ``z ~ N(0, I)`` and runs
    :func:`normlab.gan.steps.critic_step`: it scores real and generated samples, adds
    ``gp_weight`` times the gradient penalty if asked, takes an optimizer step and then
    clips the critic's weights to ``[-clip_value, clip_value]`` if asked. The paper settings:

    - GAN (Goodfellow et al., 2014): ``loss="non_saturating"`` (or ``"minimax"``),
      ``n_critic=1``, Adam(2e-4, betas=(0.5, 0.999)) (Radford et al., 2016);
    - WGAN (Arjovsky et al., 2017): ``loss="wasserstein"``, ``clip_value=0.01``,
      ``n_critic=5``, RMSprop(5e-5);
    - WGAN-GP (Gulrajani et al., 2017): ``loss="wasserstein"``, ``gp_weight=10``,
      ``n_critic=5``, Adam(1e-4, betas=(0, 0.9)); no batch normalization in the critic;
    - SN-GAN (Miyato et al., 2018): a critic with spectrally normalized layers and
      ``loss="hinge"`` or ``"non_saturating"``.

    The critic stays in training mode during the generator step, as in the reference
    implementations: a spectrally normalized critic therefore runs one more power iteration
    per generator step (its weights do not move during that step, so the estimate only
    improves), and a critic with batch normalization normalizes the fake batch with its own
    statistics.

    Args:
        generator: maps ``(B, latent_dim)`` noise to samples shaped like the data.
        critic: maps a batch of samples to scores ``(B,)`` (any ``nn.Module``).
        data: a :class:`normlab.gan.data.GaussianMixture` (or any object with a
            ``sample(n, generator=...)`` method: fresh samples every batch), a tensor of
            samples ``(N, *features)``, a ``TensorDataset`` or an ``(x, y)`` pair (the first
            tensor is used), a map-style ``Dataset``, or a ``DataLoader`` (its own batch
            size; labels in ``(x, y)`` batches are ignored).
        loss: ``"minimax"``, ``"non_saturating"``, ``"wasserstein"`` or ``"hinge"``
            (:mod:`normlab.gan.losses`).
        steps: total number of generator steps (a resumed run continues up to it).
        n_critic: critic steps per generator step.
        batch_size: real and generated samples per step.
        latent_dim: size of ``z``; default ``generator.latent_dim``.
        gp_weight: ``λ`` of the gradient penalty (0: none; 10 in WGAN-GP).
        clip_value: ``c`` of weight clipping after every critic step (``None``: none).
        label_smoothing: one-sided label smoothing of the real targets, for the
            ``"minimax"`` and ``"non_saturating"`` losses only.
        generator_optimizer: an optimizer over the generator's parameters, or a factory
            ``params -> optimizer``; default Adam(2e-4, betas=(0.5, 0.999)).
        critic_optimizer: the same for the critic.
        device: where to train; default :func:`~normlab.scaffolding.device.get_device`.
            The models are moved there.
        seed: seed of the loop's noise and data generators (seed the models'
            initialization yourself, before building them).
        eval_every: call ``evaluate`` before training, every ``eval_every`` generator steps
            and at the end.
        evaluate: ``(generator, critic) -> {name: float}``, e.g. mode coverage or exact W1.
            It runs inside ``torch.random.fork_rng``, so it cannot change the
            training's random streams; it should not change the models.
        checkpoint_path: file to save checkpoints to (and to resume from).
        checkpoint_every: save every that many generator steps (and at the end); default:
            only at the end.
        resume: if ``checkpoint_path`` exists, continue from it. What it was saved with
            must match this call: the configuration, each optimizer's class and
            hyperparameters (a new ``lr`` is refused, not silently replaced by the saved
            one: start a new ``checkpoint_path`` to train on with new settings) and the data
            (its kind, and the shape of a tensor or the centres of a mixture). The file
            carries a SHA-256 checksum: an empty, truncated, overwritten or corrupted file is
            refused before anything is unpickled.
        concatenate_batches: score real and fake samples in one critic call; default: yes,
            unless the critic has batch normalization.
        stop_on_divergence: stop when a loss becomes NaN or infinite and mark
            ``GANHistory.diverged`` (checked every few dozen steps).
        progress: show a progress bar; default: unless ``NORMLAB_QUIET`` is set.
        desc: label of the progress bar.

    Returns:
        The :class:`GANHistory` (continued from the checkpoint when resuming).

    Raises:
        ValueError: unknown ``loss``; label smoothing with a loss that has no labels; a
            gradient penalty with a batch-normalized critic; a critic that does not return
            one score per sample; an optimizer over another model's parameters; a checkpoint
            that is not intact, or was saved with another configuration, optimizer or data
            (every checkpoint error names the file); invalid numbers.
        TypeError: unsupported ``data`` or optimizer arguments.
    """
    config = GANConfig.check(
        generator,
        critic,
        loss=loss,
        steps=steps,
        n_critic=n_critic,
        batch_size=batch_size,
        latent_dim=latent_dim,
        gp_weight=gp_weight,
        clip_value=clip_value,
        label_smoothing=label_smoothing,
        seed=seed,
        eval_every=eval_every,
        evaluate=evaluate,
        checkpoint_path=checkpoint_path,
        checkpoint_every=checkpoint_every,
        concatenate_batches=concatenate_batches,
        stop_on_divergence=stop_on_divergence,
    )
    device = get_device(device)
    generator.to(device)
    critic.to(device)
    source = make_source(data, config.batch_size, device, config.seed + 1)
    generator_opt = make_optimizer(generator_optimizer, generator, "generator_optimizer")
    critic_opt = make_optimizer(critic_optimizer, critic, "critic_optimizer")
    run = _Run(config, generator, critic, generator_opt, critic_opt, source, device)
    path = config.checkpoint_path
    if path is not None and resume and path.exists():
        run.restore()
    return run.train(progress, desc)


def record_evaluation(
    evaluate: Evaluate,
    generator: nn.Module,
    critic: nn.Module,
    history: GANHistory,
    step: int,
    device: torch.device,
) -> None:
    """Call ``evaluate(generator, critic)`` inside ``torch.random.fork_rng`` (so that
    evaluating never changes the training's random streams) and append its values to
    ``history`` at generator step ``step``."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        values = evaluate(generator, critic)
    history.eval_steps.append(step)
    for name, value in values.items():
        history.metrics.setdefault(name, []).append(float(value))


class _Run:
    """The state of one :func:`train_gan` run and its steps: the models, their optimizers,
    the data, the loop's noise generator, the history and the two clocks."""

    def __init__(
        self,
        config: GANConfig,
        generator: nn.Module,
        critic: nn.Module,
        generator_opt: torch.optim.Optimizer,
        critic_opt: torch.optim.Optimizer,
        source: DataSource,
        device: torch.device,
    ) -> None:
        self.config, self.device, self.source = config, device, source
        self.generator, self.critic = generator, critic
        self.generator_opt, self.critic_opt = generator_opt, critic_opt
        self.noise = torch.Generator(device).manual_seed(config.seed)
        self.dtype = floating_dtype(generator)
        self.history = GANHistory()
        path = config.checkpoint_path
        self.checkpointer = None
        if path is not None:  # described now, before a resume loads any state
            self.checkpointer = Checkpointer(
                path,
                config.saved(),
                generator,
                critic,
                generator_opt,
                critic_opt,
                source,
                self.noise,
                device,
            )
        self.critic_clock, self.generator_clock = Stopwatch(device), Stopwatch(device)
        self.critic_params: list[nn.Parameter] = []

    def restore(self) -> None:
        checkpointer = cast(Checkpointer, self.checkpointer)  # called with a checkpoint path
        self.history = checkpointer.restore(GANHistory.from_state_dict)

    def save(self) -> None:
        checkpointer = cast(Checkpointer, self.checkpointer)  # due only with a checkpoint path
        checkpointer.save(self.history.state_dict())

    def evaluate(self, step: int) -> None:
        # due only when evaluate was given (checked callable by GANConfig.check)
        evaluate = cast(Evaluate, self.config.evaluate)
        record_evaluation(evaluate, self.generator, self.critic, self.history, step, self.device)

    def _noise(self, n: int) -> torch.Tensor:
        latent_dim = self.config.latent_dim
        return torch.randn(
            n, latent_dim, generator=self.noise, device=self.device, dtype=self.dtype
        )

    def critic_steps(self) -> CriticStep:
        """``n_critic`` critic steps; what the last one measured."""
        config = self.config
        self.critic_clock.start()
        for _ in range(config.n_critic):
            real = self.source.next(config.batch_size)
            z = self._noise(len(real))
            with torch.no_grad():
                fake = self.generator(z)
            measured = critic_step(
                self.critic,
                self.critic_opt,
                real,
                fake,
                loss=config.gan_loss,
                gp_weight=config.gp_weight,
                clip_value=config.clip_value,
                label_smoothing=config.label_smoothing,
                generator=self.noise,
                concatenate=config.concatenate_batches,
            )
        self.critic_clock.stop()
        return measured

    def generator_step(self) -> torch.Tensor:
        """One generator step (the critic's weights need no gradient here); its loss."""
        self.generator_clock.start()
        for p in self.critic_params:
            p.requires_grad_(False)
        try:
            z = self._noise(self.config.batch_size)
            generator_loss = self.config.gan_loss.generator(self.critic(self.generator(z)))
            self.generator_opt.zero_grad(set_to_none=True)
            generator_loss.backward()
            self.generator_opt.step()
        finally:
            for p in self.critic_params:
                p.requires_grad_(True)
        self.generator_clock.stop()
        return generator_loss.detach()

    def flush(self, record: torch.Tensor, start: int, upto: int) -> int:
        """Append the buffered losses of rows ``start:upto`` to the history, and the clocks'
        times; return ``upto``."""
        history = self.history
        columns = (history.critic_loss, history.critic_gap, history.penalty, history.generator_loss)
        for row in record[start:upto].tolist():
            for column, value in zip(columns, row, strict=True):
                column.append(value)
        history.critic_seconds += self.critic_clock.collect()
        history.generator_seconds += self.generator_clock.collect()
        return upto

    def train(self, progress: bool | None, desc: str | None) -> GANHistory:
        config, history = self.config, self.history
        start = history.generator_steps
        self.generator.train()
        self.critic.train()
        if config.evaluate is not None and start == 0:
            self.evaluate(0)
        if start >= config.steps:
            return history
        self.critic_params = [p for p in self.critic.parameters() if p.requires_grad]
        # columns: critic loss, critic gap, penalty, generator loss
        shape = (config.steps - start, 4)
        record = torch.full(shape, math.nan, device=self.device, dtype=torch.float64)
        flushed = 0
        bar = progress_bar(range(start, config.steps), desc=desc, disable=hidden(progress))
        for step in bar:
            measured = self.critic_steps()
            generator_loss = self.generator_step()
            record[step - start] = torch.stack(
                [measured.loss, measured.gap, measured.penalty, generator_loss]
            )
            history.generator_steps = step + 1
            history.critic_steps += config.n_critic
            done = step + 1
            due_eval, due_checkpoint = config.due(done)
            if due_eval or due_checkpoint or done == config.steps or done % SYNC_EVERY == 0:
                flushed = self.flush(record, flushed, done - start)
                last = (history.critic_loss[-1], history.generator_loss[-1])
                if config.stop_on_divergence and not all(math.isfinite(v) for v in last):
                    history.diverged = True
                    break
                if due_eval:
                    self.evaluate(done)
                    bar.set_postfix(
                        {k: f"{v[-1]:.3g}" for k, v in list(history.metrics.items())[:3]}
                    )
                if due_checkpoint:
                    self.save()
        return history
