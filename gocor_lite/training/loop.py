# SPDX-License-Identifier: MIT
"""The one resumable training loop: every stage of ``python -m gocor_lite.cli.train`` runs in it.

A stage is a set of modules, an optimiser and ``loss_at(step)``, a function of the step alone
(every batch is drawn from the seed and the step), so a run resumed from its checkpoint takes
exactly the steps it would have taken. The checkpoint records the stage's *identity* (the
``repr`` of its settings dataclass, which names every field, plus anything else the caller
adds); resuming refuses a checkpoint of another identity.

Under ``torchrun`` (:class:`~gocor_lite.training.distributed.Workers`), every process runs the
loop on its share of each batch; the leader alone writes the checkpoint and shows progress, and
the recorded loss of a step is the mean over the processes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from gocor_lite.training.distributed import Workers

CHECKPOINT_EVERY = 50  # steps between two saves of a stage's resumable state


Progress = Callable[[int, int, float], None]  # (step, steps, loss) after each step
Schedule = Callable[[int], float]  # the learning rate of a step


def resumable_loop(
    modules: Mapping[str, nn.Module],
    optimizer: torch.optim.Optimizer,
    loss_at: Callable[[int], Tensor],
    steps: int,
    identity: str,
    checkpoint: Path | None,
    resume: bool,
    progress: Progress | None,
    *,
    first_step: int = 0,
    schedule: Schedule | None = None,
    workers: Workers | None = None,
) -> list[float]:
    """Run optimiser steps ``first_step .. steps - 1`` of ``loss_at(step)``; save ``modules``,
        the optimiser and the losses to ``checkpoint`` every :data:`CHECKPOINT_EVERY` steps and at
        the end; with ``resume``, continue from it (exactly, since every batch is a function of its
        step). ``schedule(step)``: the learning rate of each step (default: the optimiser's own),
    times a parameter group's ``"lr_factor"`` where it has one.
        Returns the loss of every step run (resumed ones included)."""
    workers = workers or Workers()
    start, losses = first_step, []
    if resume and checkpoint is not None and checkpoint.is_file():
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        if state.get("identity") != identity:
            raise ValueError(
                f"{checkpoint} is the checkpoint of another run; delete it or drop --resume.\n"
                f"  it has: {state.get('identity')}\n  this is: {identity}"
            )
        for name, module in modules.items():
            module.load_state_dict(state["modules"][name])
        optimizer.load_state_dict(state["optimizer"])
        start, losses = int(state["step"]), list(state["losses"])
    for step in range(start, steps):
        if schedule is not None:
            for group in optimizer.param_groups:
                group["lr"] = schedule(step) * group.get("lr_factor", 1.0)
        loss = loss_at(step)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(workers.mean(float(loss.detach())))
        if progress is not None and workers.leader:
            progress(step, steps, losses[-1])
        due = (step + 1 - first_step) % CHECKPOINT_EVERY == 0 or step + 1 == steps
        if checkpoint is not None and workers.leader and due:
            state = {
                "identity": identity,
                "step": step + 1,
                "losses": losses,
                "modules": {name: module.state_dict() for name, module in modules.items()},
                "optimizer": optimizer.state_dict(),
            }
            checkpoint.parent.mkdir(parents=True, exist_ok=True)
            torch.save(state, checkpoint)
    return losses
