"""What to do about each finding code (shown with every finding in the reports and as SARIF help)."""
from __future__ import annotations

from ..findings import CODES

HINTS = {
    "FWT101": "No rule for this layer: translate it by hand, or add a rule (--rules DIR, see rules/README.md). "
              "The model was left as it was.",
    "FWT102": "No rule for this op: rewrite it with supported ops, or add an op rule (--rules DIR). "
              "The model was left as it was.",
    "FWT103": "The model's form was not recognised (e.g. a layer used other than by a call): restructure it "
              "as Sequential, functional or a subclass with the layers created in __init__.",
    "FWT104": "Training / saving code is not translated: it was commented out; write the target framework's "
              "equivalent (training loop, optimizer, state_dict saving).",
    "FWT105": "A call with no meaning in the target framework was removed (e.g. build()); nothing to do "
              "unless it had side effects you rely on.",
    "FWT201": "This argument has no exact equivalent: remove it or handle it by hand; the model was left as it was.",
    "FWT202": "This argument value cannot be reproduced exactly in the target framework: change it or "
              "translate the layer by hand; the model was left as it was.",
    "FWT203": "An argument without effect on inference was dropped; check it if you train the translated model.",
    "FWT301": "The input shape is unknown: a lazy module was emitted. Give --input-shape for exact sizes.",
    "FWT302": "A size could not be inferred: give --input-shape, or an Input/input_shape in the source.",
    "FWT401": "A layout conversion (permute) was inserted: correct, but check the interface you feed.",
    "FWT402": "Translated, but the semantics differ in a corner case: read the message and verify with "
              "`fwtranslate verify`.",
    "FWT901": "Internal error of the translator on this file: please report it (set FWTRANSLATE_DEBUG=1 "
              "for a traceback). The file was not written.",
    "FWT902": "The file is not valid Python: fix the syntax error at the given line and run again.",
    "FWT903": "The file could not be read (binary, not UTF-8, or unreadable).",
    "FWT904": "No model definition in this file: it was copied unchanged.",
}


def hint(code: str) -> str:
    return HINTS.get(code, "")


def title(code: str) -> str:
    return CODES.get(code, ("error", code))[1]
