"""Training: the state pytree, the pure train step, the fit loop and checkpoints (docs/design.md §3)."""

from ._checkpoints import Checkpoints as Checkpoints
from ._fit import fit as fit
from ._fit import np_tree as np_tree
from ._state import LossFn as LossFn
from ._state import StepInfo as StepInfo
from ._state import TrainConfig as TrainConfig
from ._state import TrainState as TrainState
from ._state import init_train_state as init_train_state
from ._state import learning_rate_schedule as learning_rate_schedule
from ._state import make_optimizer as make_optimizer
from ._state import make_train_step as make_train_step
from ._state import state_to_tree as state_to_tree
from ._state import tree_to_state as tree_to_state

__all__ = ["Checkpoints", "LossFn", "StepInfo", "TrainConfig", "TrainState", "fit", "init_train_state",
           "learning_rate_schedule", "make_optimizer", "make_train_step", "np_tree", "state_to_tree",
           "tree_to_state"]
