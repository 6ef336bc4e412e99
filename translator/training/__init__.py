"""Training and inference code around a translated model, in both directions.

Keras -> torch (keras_api.KerasTraining): `model.compile/fit/evaluate/predict/save_weights/...` become
explicit PyTorch code calling generated helpers (torch_helpers.py, copied into the translated file).
torch -> Keras (torch_loop): the canonical PyTorch training loop becomes `model.compile` +
`model.train_on_batch`. The translation path stays framework-free: nothing here imports torch or Keras.
"""
from .keras_api import KerasTraining

__all__ = ["KerasTraining"]
