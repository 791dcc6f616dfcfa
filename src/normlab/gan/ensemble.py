"""Train K seeds of one GAN at once: the loop of :func:`normlab.gan.training.train_gan`, batched.

A claim about GAN training is a claim over seeds, and on the ring of Gaussians one seed's
step is mostly overhead. :func:`normlab.gan.ensemble.train_gan_ensemble` runs the K
seeds' generators and critics as :class:`normlab.gan.stacked.StackedMLP` (weights with a
leading seed dimension, one batched matrix product per layer) and reproduces, to float
tolerance, what K calls of ``train_gan`` with the same settings would give, seed by seed:

- seed ``s`` builds its models under ``torch.manual_seed(s)`` (when given factories), draws
  its noise from ``torch.Generator().manual_seed(s)`` and its data from a generator seeded
  with ``s + 1``, exactly as ``train_gan(..., seed=s)`` does, call for call;
- every loss is the mean over that seed's batch, summed over seeds: the gradient of the sum
  with respect to seed ``k``'s weights is seed ``k``'s own gradient;
- the gradient penalty takes the input gradient of the sum of all seeds' scores: the
  scores of seed ``k`` depend only on seed ``k``'s inputs, so row ``k`` of that gradient is
  ``∇D_k(x̂_k)`` (Gulrajani et al., 2017);
- Adam, SGD, RMSprop... update each element from its own gradient and state, so one
  optimizer over the stacked tensors is K optimizers; weight clipping is elementwise too;
- spectral normalization runs one batched power iteration per critic forward, as each
  seed's parametrization would (Miyato et al., 2018).

What it does not do: batch normalization or convolutions (use ``train_gan``), checkpoints,
``DataLoader`` data (its shuffling reads the global random state, which K seeds would share).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from normlab._validation import (
    check_callable,
    check_int,
    check_module,
    check_nonnegative_float,
    check_one_sided_smoothing,
    check_positive_float,
    check_positive_int,
)
from normlab.gan.config import Evaluate, OptimizerFactory, floating_dtype, latent_size
from normlab.gan.losses import get_loss, real_target
from normlab.gan.sources import MixtureSource, TensorSource, make_source
from normlab.gan.stacked import StackedMLP
from normlab.gan.training import SYNC_EVERY, GANHistory, record_evaluation
from normlab.scaffolding.device import get_device
from normlab.scaffolding.progress import hidden, progress_bar
from normlab.scaffolding.timing import Stopwatch

__all__ = ["GANEnsemble", "train_gan_ensemble", "seed_losses", "ELEMENTWISE_OPTIMIZERS"]

#: Optimizers whose update of each element reads only that element's gradient and state
#: (and scalars such as the step count): one of them over stacked tensors is K of them.
ELEMENTWISE_OPTIMIZERS = (
    torch.optim.SGD,
    torch.optim.Adam,
    torch.optim.AdamW,
    torch.optim.RMSprop,
    torch.optim.Adagrad,
    torch.optim.Adamax,
    torch.optim.NAdam,
    torch.optim.RAdam,
)
ModuleFactory = Callable[[], nn.Module]
# per seed: stacked scores (K, N) of real and fake samples, or of fake ones, -> losses (K,)
CriticLosses = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
GeneratorLosses = Callable[[torch.Tensor], torch.Tensor]


def seed_losses(name: str, label_smoothing: float = 0.0) -> tuple[CriticLosses, GeneratorLosses]:
    """The GAN loss ``name`` per seed: ``(discriminator, generator)``, functions of stacked
    scores ``(K, N)`` returning one loss per seed, ``(K,)``.

    Row ``k`` equals :func:`normlab.gan.losses.get_loss` ``(name)`` applied to row ``k`` (the same
    formulas with the mean taken over the last axis only), e.g. for ``"non_saturating"``
    ``softplus(-f(x)).mean(-1) + softplus(f(G(z))).mean(-1)`` and
    ``softplus(-f(G(z))).mean(-1)``.

    Raises:
        ValueError: unknown ``name``; label smoothing with a loss that has no labels.
    """
    gan_loss = get_loss(name)
    label_smoothing = check_one_sided_smoothing(label_smoothing, "label_smoothing")
    if label_smoothing and not gan_loss.supports_label_smoothing:
        raise ValueError(
            f"label_smoothing applies to the 'minimax' and 'non_saturating' losses (targets "
            f"0/1), not to loss={name!r}"
        )

    def binary_cross_entropy(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        if label_smoothing:
            target = real_target(real, label_smoothing)
            real_term = F.binary_cross_entropy_with_logits(real, target, reduction="none")
        else:
            real_term = F.softplus(-real)
        return real_term.mean(-1) + F.softplus(fake).mean(-1)

    def minus_mean(fake: torch.Tensor) -> torch.Tensor:
        return -fake.mean(-1)

    discriminators: dict[str, CriticLosses] = {
        "minimax": binary_cross_entropy,
        "non_saturating": binary_cross_entropy,
        "wasserstein": lambda real, fake: fake.mean(-1) - real.mean(-1),
        "hinge": lambda real, fake: F.relu(1.0 - real).mean(-1) + F.relu(1.0 + fake).mean(-1),
    }
    generators: dict[str, GeneratorLosses] = {
        "minimax": lambda fake: -F.softplus(fake).mean(-1),
        "non_saturating": lambda fake: F.softplus(-fake).mean(-1),
        "wasserstein": minus_mean,
        "hinge": minus_mean,
    }
    return discriminators[name], generators[name]


@dataclass
class GANEnsemble:
    """What :func:`normlab.gan.ensemble.train_gan_ensemble` returns, one entry per seed, in
    the order of ``seeds``.

    Attributes:
        seeds: the seeds.
        generators, critics: seed ``k``'s trained models, ordinary modules (their tensors
            are views into the stacked ones the run trained).
        histories: seed ``k``'s :class:`normlab.gan.training.GANHistory`, as ``train_gan``
            would record it; its times are the ensemble's divided by K (the cost per seed).
    """

    seeds: list[int]
    generators: list[nn.Module]
    critics: list[nn.Module]
    histories: list[GANHistory]

    def __len__(self) -> int:
        return len(self.seeds)


def _given_models(choice: object, seeds: list[int], name: str) -> list[nn.Module] | None:
    """The list of one module per seed, checked; ``None`` for a factory."""
    if isinstance(choice, nn.Module):
        raise TypeError(
            f"{name} must be a factory () -> module or a list of one module per seed, got "
            f"the single module {type(choice).__name__}; K seeds need K modules"
        )
    if not isinstance(choice, (list, tuple)):
        check_callable(choice, name, "a factory () -> module, or a list of modules")
        return None
    if len(choice) != len(seeds):
        raise ValueError(f"{name} must hold one module per seed ({len(seeds)}), got {len(choice)}")
    for k, module in enumerate(choice):
        check_module(module, f"{name}[{k}]")
    if len({id(m) for m in choice}) != len(choice):
        raise ValueError(f"{name} holds the same module object twice; give each seed its own")
    return list(choice)


def _seeded_models(
    generators: object, critics: object, seeds: list[int]
) -> tuple[list[nn.Module], list[nn.Module]]:
    """One generator and one critic per seed. A factory is called right after
    ``torch.manual_seed(seed)``, the generator's first (the chapters'
    ``torch.manual_seed(seed); G = ...; D = ...``); the global random state is restored."""
    given = [
        _given_models(generators, seeds, "generators"),
        _given_models(critics, seeds, "critics"),
    ]
    if given[0] is not None and given[1] is not None:
        return given[0], given[1]
    built: list[list[nn.Module]] = [[], []]
    with torch.random.fork_rng(devices=[]):
        for seed in seeds:
            torch.manual_seed(seed)
            for i, (factory, name) in enumerate([(generators, "generators"), (critics, "critics")]):
                if given[i] is not None:
                    continue
                # not a list of modules, so _given_models checked that it is callable
                module = cast(Callable[[], object], factory)()
                if not isinstance(module, nn.Module):
                    raise TypeError(
                        f"the {name} factory must return a torch.nn.Module, got "
                        f"{type(module).__name__}"
                    )
                built[i].append(module)
    generator_list = given[0] if given[0] is not None else built[0]
    critic_list = given[1] if given[1] is not None else built[1]
    return generator_list, critic_list


def _optimizer(choice: object, params: list[nn.Parameter], name: str) -> torch.optim.Optimizer:
    if choice is None:
        return torch.optim.Adam(params, lr=2e-4, betas=(0.5, 0.999))
    if isinstance(choice, torch.optim.Optimizer):
        raise TypeError(
            f"{name} must be a factory params -> optimizer (it is called on the stacked "
            f"parameters), not an optimizer instance ({type(choice).__name__})"
        )
    choice = check_callable(choice, name, "a factory params -> optimizer")
    optimizer = choice(params)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"{name} factory must return a torch.optim.Optimizer")
    if type(optimizer) not in ELEMENTWISE_OPTIMIZERS:
        allowed = ", ".join(c.__name__ for c in ELEMENTWISE_OPTIMIZERS)
        raise ValueError(
            f"{name} is a {type(optimizer).__name__}; over stacked seeds only an elementwise "
            f"optimizer equals one optimizer per seed: {allowed}"
        )
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    if held != {id(p) for p in params}:
        raise ValueError(f"{name} factory must optimize exactly the parameters it is given")
    return optimizer


def _sources(
    data: object, batch_size: int, device: torch.device, seeds: list[int]
) -> list[MixtureSource | TensorSource]:
    sources = [make_source(data, batch_size, device, seed + 1) for seed in seeds]
    if not isinstance(sources[0], (MixtureSource, TensorSource)):
        raise TypeError(
            "data must be a GaussianMixture (or an object with sample(n, generator=...)), a "
            "tensor of samples, a TensorDataset or an (x, y) pair; a Dataset or DataLoader "
            "shuffles with the global random state, which the seeds would share: use "
            f"train_gan for {type(data).__name__}"
        )
    # made from the same data, every seed's source is of the first one's kind
    return cast("list[MixtureSource | TensorSource]", sources)


def _evaluations(evaluate: object, n: int) -> list[Evaluate] | None:
    if evaluate is None:
        return None
    if isinstance(evaluate, (list, tuple)):
        if len(evaluate) != n:
            raise ValueError(
                f"evaluate must be one callable or one per seed ({n}), got {len(evaluate)}"
            )
        for k, fn in enumerate(evaluate):
            check_callable(fn, f"evaluate[{k}]", "(generator, critic) -> {name: value}")
        return list(evaluate)
    evaluate = check_callable(evaluate, "evaluate", "(generator, critic) -> {name: value}")
    return [evaluate] * n


def train_gan_ensemble(
    generators: ModuleFactory | Sequence[nn.Module],
    critics: ModuleFactory | Sequence[nn.Module],
    data: object,
    *,
    seeds: Sequence[int],
    loss: str = "non_saturating",
    steps: int = 1000,
    n_critic: int = 1,
    batch_size: int = 64,
    latent_dim: int | None = None,
    gp_weight: float = 0.0,
    clip_value: float | None = None,
    label_smoothing: float = 0.0,
    generator_optimizer: OptimizerFactory | None = None,
    critic_optimizer: OptimizerFactory | None = None,
    device: torch.device | str | None = None,
    eval_every: int | None = None,
    evaluate: Evaluate | Sequence[Evaluate] | None = None,
    stop_on_divergence: bool = True,
    progress: bool | None = None,
    desc: str | None = None,
) -> GANEnsemble:
    """Train one GAN per seed, all seeds at once; seed ``k`` ends where
    ``train_gan(generators[k], critics[k], data, seed=seeds[k], ...)`` would.

    The arguments shared with :func:`normlab.gan.training.train_gan` mean the same (``loss``,
    ``steps``, ``n_critic``, ``batch_size``, ``latent_dim``, ``gp_weight``, ``clip_value``,
    ``label_smoothing``, the optimizer factories, ``eval_every``, ``stop_on_divergence``,
    ``progress``, ``desc``); see there for the paper settings.

    Args:
        generators: a factory ``() -> module`` (called once per seed, right after
            ``torch.manual_seed(seed)``, before the critic factory), or one module per
            seed (initialize them yourself). MLPs only: see
            :class:`normlab.gan.stacked.StackedMLP`.
        critics: the same for the critics; a factory may spectrally normalize its critic
            (e.g. ``lambda: normlab.spectrally_normalize(MLPCritic(2, (64, 64)))``).
        data: a :class:`normlab.gan.data.GaussianMixture` (or an object with
            ``sample(n, generator=...)``), a tensor of samples, a ``TensorDataset`` or an
            ``(x, y)`` pair; each seed draws its own batches from it.
        seeds: the seeds, distinct ints; their number K is the size of the ensemble.
        generator_optimizer: a factory ``params -> optimizer`` (not an instance: it is
            called on the stacked parameters), one of
            :data:`normlab.gan.ensemble.ELEMENTWISE_OPTIMIZERS`; default
            Adam(2e-4, betas=(0.5, 0.999)) as in ``train_gan``.
        critic_optimizer: the same for the critics.
        device: where to train; default :func:`normlab.scaffolding.device.get_device`.
        evaluate: ``(generator, critic) -> {name: float}`` for every seed, or a list of
            one such function per seed, called with seed ``k``'s modules (inside
            ``torch.random.fork_rng``, as in ``train_gan``).

    Returns:
        A :class:`normlab.gan.ensemble.GANEnsemble`: per seed, the trained modules and the history.

    Raises:
        TypeError: a single module instead of one per seed, a factory that returns no
            module, an optimizer instance, unsupported ``data``, non-int seeds.
        ValueError: no seeds, repeated seeds, a number of modules other than the number of
            seeds, architectures that differ across seeds or cannot be stacked, a
            non-elementwise optimizer, and every error of ``train_gan``'s arguments.
    """
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence):
        raise TypeError(f"seeds must be a list or tuple of ints, got {type(seeds).__name__}")
    seeds = [check_int(s, f"seeds[{i}]") for i, s in enumerate(seeds)]
    if not seeds:
        raise ValueError("seeds must hold at least one seed (K >= 1), got none")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct (a repeated seed is the same run), got {seeds}")
    K = len(seeds)
    critic_loss_fn, generator_loss_fn = seed_losses(loss, label_smoothing)
    steps = check_positive_int(steps, "steps")
    n_critic = check_positive_int(n_critic, "n_critic")
    batch_size = check_positive_int(batch_size, "batch_size")
    gp_weight = check_nonnegative_float(gp_weight, "gp_weight")
    if clip_value is not None:
        clip_value = check_positive_float(clip_value, "clip_value")
    if eval_every is not None:
        eval_every = check_positive_int(eval_every, "eval_every")
        if evaluate is None:
            raise ValueError("eval_every is set but no evaluate function was given")
    evaluations = _evaluations(evaluate, K)
    generator_list, critic_list = _seeded_models(generators, critics, seeds)
    latent_dim = latent_size(generator_list[0], latent_dim)

    device = get_device(device)
    for module in (*generator_list, *critic_list):
        module.to(device).train()  # train_gan trains in training mode, critic included
    run = _EnsembleRun(
        seeds,
        generator_list,
        critic_list,
        data,
        device,
        (critic_loss_fn, generator_loss_fn),
        latent_dim=latent_dim,
        batch_size=batch_size,
        gp_weight=gp_weight,
        clip_value=clip_value,
    )
    run.make_optimizers(generator_optimizer, critic_optimizer)
    run.train(
        steps,
        n_critic,
        evaluations,
        eval_every=eval_every,
        stop_on_divergence=stop_on_divergence,
        bar=progress_bar(range(steps), desc=desc, disable=hidden(progress)),
    )
    return GANEnsemble(seeds, generator_list, critic_list, run.histories)


class _EnsembleRun:
    """K seeds' models stacked (:class:`StackedMLP`), their sources, noise generators,
    optimizers, histories and clocks; the steps of :func:`train_gan_ensemble`, each the K
    seeds' :func:`~normlab.gan.training.train_gan` step at once."""

    def __init__(
        self,
        seeds: list[int],
        generator_list: list[nn.Module],
        critic_list: list[nn.Module],
        data: object,
        device: torch.device,
        losses: tuple[CriticLosses, GeneratorLosses],
        *,
        latent_dim: int,
        batch_size: int,
        gp_weight: float,
        clip_value: float | None,
    ) -> None:
        self.K, self.device = len(seeds), device
        self.generator_list, self.critic_list = generator_list, critic_list
        self.generator = StackedMLP(generator_list)
        self.critic = StackedMLP(critic_list)
        self.sources = _sources(data, batch_size, device, seeds)
        self.noises = [torch.Generator(device).manual_seed(seed) for seed in seeds]
        self.dtype = floating_dtype(generator_list[0])
        self.critic_loss_fn, self.generator_loss_fn = losses
        self.latent_dim, self.batch_size = latent_dim, batch_size
        self.gp_weight, self.clip_value = gp_weight, clip_value
        self.histories = [GANHistory() for _ in seeds]
        self.no_penalty = torch.full((self.K,), math.nan, device=device)
        # CUDA events on a GPU, as in train_gan: timing must not synchronize every step
        self.critic_clock, self.generator_clock = Stopwatch(device), Stopwatch(device)

    def make_optimizers(self, generator_optimizer: object, critic_optimizer: object) -> None:
        self.critic_params = self.critic.parameters()
        self.generator_opt = _optimizer(
            generator_optimizer, self.generator.parameters(), "generator_optimizer"
        )
        self.critic_opt = _optimizer(critic_optimizer, self.critic_params, "critic_optimizer")
        self.trainable_critic = [p for p in self.critic_params if p.requires_grad]

    def draw_noise(self, n: int) -> torch.Tensor:
        z = torch.empty(self.K, n, self.latent_dim, device=self.device, dtype=self.dtype)
        for k in range(self.K):
            torch.randn(
                n,
                self.latent_dim,
                generator=self.noises[k],
                device=self.device,
                dtype=self.dtype,
                out=z[k],
            )
        return z

    def penalty_of(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """Per seed ``E (‖∇D_k(x̂)‖ - 1)²`` at ``x̂ = ε x + (1 - ε) x̃``, as
        :func:`normlab.gan.penalties.gradient_penalty` (one ``ε`` per sample)."""
        shape = (real.shape[1],) + (1,) * (real.ndim - 2)
        epsilon = torch.stack(
            [
                torch.rand(shape, generator=g, device=self.device, dtype=real.dtype)
                for g in self.noises
            ]
        )
        points = (epsilon * real + (1 - epsilon) * fake).detach().requires_grad_(True)
        scores = self.critic(points)
        (grad,) = torch.autograd.grad(scores.sum(), points, create_graph=True)
        norms = torch.linalg.vector_norm(grad.flatten(2), dim=2)
        return ((norms - 1.0) ** 2).mean(1)

    def critic_scores(self, real: torch.Tensor, fake: torch.Tensor, first: bool) -> torch.Tensor:
        """The K critics' scores of real and fake samples, ``(K, 2 B)``; on the first step,
        checked against the data's and the critics' shapes."""
        K, batch_size = self.K, self.batch_size
        if first and fake.shape[2:] != real.shape[2:]:
            raise ValueError(
                f"the generators make samples of shape {tuple(fake.shape[2:])}, the data "
                f"has samples of shape {tuple(real.shape[2:])}"
            )
        scores = self.critic(torch.cat([real, fake], dim=1))
        if first and tuple(scores.shape) not in ((K, 2 * batch_size), (K, 2 * batch_size, 1)):
            raise ValueError(
                "the critics must return one score per sample, got shape "
                f"{tuple(scores.shape[1:])} for {2 * batch_size} samples"
            )
        return scores.reshape(K, 2 * batch_size)

    def critic_steps(
        self, n_critic: int, first: bool
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``n_critic`` critic steps of every seed; the last one's (loss, gap, penalty)."""
        batch_size = self.batch_size
        self.critic_clock.start()
        for _ in range(n_critic):
            real = torch.stack([source.next(batch_size) for source in self.sources])
            z = self.draw_noise(batch_size)
            with torch.no_grad():
                fake = self.generator(z)
            scores = self.critic_scores(real, fake, first)
            real_scores, fake_scores = scores[:, :batch_size], scores[:, batch_size:]
            critic_loss = self.critic_loss_fn(real_scores, fake_scores)
            if self.gp_weight:
                penalty = self.penalty_of(real, fake)
                total = critic_loss + self.gp_weight * penalty
            else:
                penalty, total = self.no_penalty, critic_loss
            self.critic_opt.zero_grad(set_to_none=True)
            total.sum().backward()  # the sum's gradient in seed k's weights is seed k's own
            self.critic_opt.step()
            if self.clip_value is not None:
                with torch.no_grad():
                    for p in self.critic_params:
                        p.clamp_(-self.clip_value, self.clip_value)
        gap = (real_scores.mean(1) - fake_scores.mean(1)).detach()
        self.critic_clock.stop()
        return total.detach(), gap, penalty.detach()

    def generator_step(self) -> torch.Tensor:
        """One generator step of every seed (the critics need no gradient); the losses."""
        self.generator_clock.start()
        for p in self.trainable_critic:
            p.requires_grad_(False)
        try:
            z = self.draw_noise(self.batch_size)
            scores = self.critic(self.generator(z)).reshape(self.K, self.batch_size)
            generator_loss = self.generator_loss_fn(scores)
            self.generator_opt.zero_grad(set_to_none=True)
            generator_loss.sum().backward()
            self.generator_opt.step()
        finally:
            for p in self.trainable_critic:
                p.requires_grad_(True)
        self.generator_clock.stop()
        return generator_loss.detach()

    def flush(self, record: torch.Tensor, start: int, upto: int, active: list[int]) -> int:
        """Append the buffered rows ``start:upto`` to the active seeds' histories, and the
        clocks' times (split evenly over the K seeds); return ``upto``."""
        rows = record[start:upto].tolist()
        critic_seconds = self.critic_clock.collect()
        generator_seconds = self.generator_clock.collect()
        for k in active:
            history = self.histories[k]
            columns = (
                history.critic_loss,
                history.critic_gap,
                history.penalty,
                history.generator_loss,
            )
            for row in rows:
                for column, value in zip(columns, row[k], strict=True):
                    column.append(value)
            history.critic_seconds += critic_seconds / self.K
            history.generator_seconds += generator_seconds / self.K
        return upto

    def evaluate(self, evaluations: list[Evaluate], active: Sequence[int], step: int) -> None:
        for k in active:
            evaluation = evaluations[k]
            generator, critic = self.generator_list[k], self.critic_list[k]
            record_evaluation(evaluation, generator, critic, self.histories[k], step, self.device)

    def train(
        self,
        steps: int,
        n_critic: int,
        evaluations: list[Evaluate] | None,
        *,
        eval_every: int | None,
        stop_on_divergence: bool,
        bar: Any,
    ) -> None:
        K, histories = self.K, self.histories
        if evaluations is not None:
            self.evaluate(evaluations, range(K), 0)
        # columns: critic loss, critic gap, penalty, generator loss
        record = torch.full((steps, K, 4), math.nan, device=self.device, dtype=torch.float64)
        active = list(range(K))  # seeds that have not diverged
        frozen: dict[int, list[torch.Tensor]] = {}  # a diverged seed's tensors when it stopped
        flushed = 0
        for step in bar:
            total, gap, penalty = self.critic_steps(n_critic, step == 0)
            generator_loss = self.generator_step()
            record[step] = torch.stack([total, gap, penalty, generator_loss], dim=1)
            done = step + 1
            for k in active:
                histories[k].generator_steps = done
                histories[k].critic_steps += n_critic
            due_eval = evaluations is not None and (
                done == steps or (eval_every is not None and done % eval_every == 0)
            )
            if due_eval or done == steps or done % SYNC_EVERY == 0:
                flushed = self.flush(record, flushed, done, active)
                if stop_on_divergence:
                    for k in list(active):
                        last = (histories[k].critic_loss[-1], histories[k].generator_loss[-1])
                        if not all(math.isfinite(v) for v in last):
                            histories[k].diverged = True
                            active.remove(k)
                            frozen[k] = _snapshot(self.generator_list[k], self.critic_list[k])
                    if not active:
                        break
                if due_eval and evaluations is not None:  # due_eval implies the second
                    self.evaluate(evaluations, active, done)
        for k, tensors in frozen.items():  # a diverged seed ends where train_gan stopped it
            _restore(self.generator_list[k], self.critic_list[k], tensors)


def _snapshot(generator: nn.Module, critic: nn.Module) -> list[torch.Tensor]:
    return [
        t.detach().clone() for m in (generator, critic) for t in (*m.parameters(), *m.buffers())
    ]


@torch.no_grad()
def _restore(generator: nn.Module, critic: nn.Module, tensors: list[torch.Tensor]) -> None:
    current = [t for m in (generator, critic) for t in (*m.parameters(), *m.buffers())]
    for target, saved in zip(current, tensors, strict=True):
        target.copy_(saved)
