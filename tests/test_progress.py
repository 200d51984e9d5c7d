"""Progress display: silent, a tqdm bar, or any callable the caller supplies."""

import jax
import jax.numpy as jnp

from scoremd._progress import progress_bar
from scoremd.diffusion import ReverseSDE, sample
from scoremd.dynamics import LangevinMiddle, simulate
from scoremd.sde import VPSDE


class _Recorder:
    def __init__(self, total, description):
        self.total, self.description, self.n, self.closed = total, description, 0, False

    def update(self, n=1):
        self.n += n

    def set_postfix(self, **fields):
        pass

    def close(self):
        self.closed = True


def test_false_is_silent_and_counts():
    bar = progress_bar(False, 10, "x", initial=3)
    bar.update(2)
    bar.close()
    assert bar.n == 5


def test_drivers_report_to_a_callable():
    bars = []

    def make(total, description):
        bars.append(_Recorder(total, description))
        return bars[-1]

    simulate(LangevinMiddle(kbt=1.0, friction=1.0, dt=0.01), lambda x: -x, jnp.zeros((2, 1)), 1.0, 7, 3,
             key=jax.random.PRNGKey(0), frames_per_chunk=3, progress=make)
    sample(ReverseSDE(n_steps=5), lambda x, t: -x, VPSDE(), 10, (2,), key=jax.random.PRNGKey(0), chunk_size=4,
           progress=make)
    (md, iid) = bars
    assert (md.total, md.n, md.closed, md.description) == (7, 7, True, "simulate")
    assert (iid.total, iid.n, iid.closed) == (3, 3, True) and iid.description == "sample (sde)"
