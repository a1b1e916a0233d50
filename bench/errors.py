"""The one error type the CLI turns into a clear message (no traceback unless ``--debug``)."""

from __future__ import annotations


class BenchError(Exception):
    """A user-facing error: what went wrong, where, and how to fix it.

    ``where`` names the file, key or object at fault; ``fix`` says what to do about it.
    """

    def __init__(self, message: str, *, where: str | None = None, fix: str | None = None):
        self.message = message
        self.where = where
        self.fix = fix
        super().__init__(self.render())

    def render(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.fix:
            text += f"\n  fix: {self.fix}"
        return text


class NonFiniteLoss(BenchError):
    """A training loss became NaN or infinite: the one error every training loop of the suite raises."""


def check_loss(loss: float, what: str, step: int, steps: int | None = None, *, where: str | None = None,
               fix: str = "lower the learning rate (or use mixed_precision = \"no\"), then rerun") -> float:
    """``loss`` if it is finite, else :class:`NonFiniteLoss` naming what was trained and at which step."""
    if loss != loss or loss in (float("inf"), float("-inf")):
        at = f"step {step}" + (f" of {steps}" if steps else "")
        raise NonFiniteLoss(f"{what}: training loss became {loss} at {at}", where=where, fix=fix)
    return loss
