"""Stop a forward pass early once it is known to be repeated (the layout fix-point).

A forward is translated with its inputs in Keras' channels-last layout; when the first consumer of an
input wants it channels-first, the pass is repeated with that input coming in channels-first
(`next_layouts`). What the repeated pass needs from the first one is only `first_conversion`: the
layout each input's first consumer wanted. Its keys are the inputs (only `input_meta` sets an origin)
and an entry is never changed once set, so when every input has one, `next_layouts` already gives
what the whole pass would give: the rest of the pass is thrown away in any case, and is skipped.

Used where each pass has its own ForwardTranslator (a Sequential/Functional site). The pass's other
effects that outlive it: memoised translations of the file's layer classes and records of how they are
called (call_sites, call_bindings), which the next pass asks for and records again for the same calls
(and which are read as sets), and imports, of which only those the output uses are written. A pass
that fails after a skipped one is not trusted: the caller runs every pass in full again, as without
skipping. (What is not reproduced: a skipped rest that would have failed, on the layouts the next pass
corrects, while the next pass succeeds -- then the model is translated, by that next pass, where the
full first pass would have left it as it was.)
"""
from __future__ import annotations

from .torch_forward import next_layouts


class RepeatedPass(BaseException):
    """Control flow, not an error (a BaseException, so that no `except Exception` on the way stops
    it): this pass will be repeated with the input layouts `layouts`."""

    def __init__(self, layouts: dict):
        super().__init__()
        self.layouts = layouts


def stop_when_repeated(layouts: dict, mode: str, inputs: int):
    """A `first_conversion` hook for a ForwardTranslator with `inputs` inputs, run with `layouts`."""
    def check(ft) -> None:
        if len(ft.first_conversion) == inputs:
            following = next_layouts(ft, layouts, mode)
            if following is not None:
                raise RepeatedPass(following)
    return check
