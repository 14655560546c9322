"""The predictor of an executable world: a small network that forecasts the sensors from the episode, whose hidden
activations are the latent state every reporter reads.

Its input is the episode alone, as the world's initial state, how often each action happened and which action
happened before which. Its targets are the sensors' readings (fine or not). The truth the reporter is asked about is
neither: whatever the predictor knows of it, it learnt because forecasting the sensors needed it. Two hidden
layers give the latent state an *upstream* half (nearer the actions) and a *downstream* half (nearer the forecast).
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Literal

import numpy as np
from oversight.protocols.elk.sampling import ordinary, schemes, stream
from oversight.protocols.elk.world import Episode, World

if TYPE_CHECKING:
    from sklearn.neural_network import MLPClassifier

Layer = Literal["all", "upstream", "downstream"]
LAYERS: tuple[Layer, ...] = ("all", "upstream", "downstream")
#: hidden layer widths: upstream, then downstream
HIDDEN = (64, 32)
#: episodes the predictor is trained on (half ordinary, half schemes) and held out to measure it
TRAIN, HELD_OUT = 2000, 600
#: held while anything is trained and cached: games that start together on one world train it once, not each
TRAINING = threading.RLock()


@dataclass(frozen=True)
class Predictor:
    """A trained sensor forecaster for one world and seed, with its accuracy on held-out episodes."""

    world: World
    network: MLPClassifier
    #: share of held-out (episode, sensor) readings forecast right
    sensor_accuracy: float
    #: share of held-out episodes whose every sensor is forecast right
    episode_accuracy: float

    def encode(self, episodes: list[Episode]) -> np.ndarray:
        """The network's input for each episode: initial state, action counts, and "a happened before b" bits."""
        return np.array([_features(self.world, e) for e in episodes], dtype=float)

    def latent(self, episodes: list[Episode], layer: Layer = "all") -> np.ndarray:
        """The hidden activations (ReLU) for each episode: one row per episode, upstream units then downstream."""
        hidden, layers = self.encode(episodes), []
        for weights, bias in zip(self.network.coefs_[:-1], self.network.intercepts_[:-1], strict=True):
            hidden = np.maximum(hidden @ weights + bias, 0.0)
            layers.append(hidden)
        if layer == "upstream":
            return layers[0]
        if layer == "downstream":
            return layers[-1]
        return np.hstack(layers)

    def forecast(self, episodes: list[Episode]) -> np.ndarray:
        """The forecast probability that each sensor reads fine: one row per episode, one column per sensor."""
        return np.asarray(self.network.predict_proba(self.encode(episodes)))


def _features(world: World, episode: Episode) -> list[float]:
    names = list(world.actions)
    index = {name: i for i, name in enumerate(names)}
    counts = [0.0] * len(names)
    before = np.zeros((len(names), len(names)))
    seen: set[int] = set()
    for action in episode.actions:
        i = index[action]
        for j in seen:
            before[j, i] = 1.0
        seen.add(i)
        counts[i] += 1.0
    return [float(v) for v in world.initial.values()] + counts + before.ravel().tolist()


def _readings(world: World, episodes: list[Episode]) -> np.ndarray:
    return np.array([[e.sensors_fine[s] for s in world.sensors] for e in episodes], dtype=int)


def training_episodes(world: World, seed: int, n: int, name: str = "predictor") -> list[Episode]:
    """``n`` episodes, half ordinary and half schemes, from the random stream ``name`` of ``seed``: by default what
    the predictor learns from."""
    rng = stream(seed, name)
    return ordinary(world, rng, n // 2) + schemes(world, rng, n - n // 2)


@cache
def _trained(world_json: str, seed: int) -> Predictor:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    world = World.model_validate_json(world_json)
    train = training_episodes(world, seed, TRAIN)
    held_out = training_episodes(world, seed, HELD_OUT, "predictor held out")
    network = MLPClassifier(hidden_layer_sizes=HIDDEN, max_iter=400, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        network.fit(np.array([_features(world, e) for e in train]), _readings(world, train))
    predictor = Predictor(world=world, network=network, sensor_accuracy=0.0, episode_accuracy=0.0)
    right = predictor.network.predict(predictor.encode(held_out)) == _readings(world, held_out)
    return Predictor(
        world=world, network=network, sensor_accuracy=float(right.mean()), episode_accuracy=float(right.all(1).mean())
    )


def predictor_for(world: World, seed: int = 0) -> Predictor:
    """The world's predictor for ``seed``, trained on first use and kept for the rest of the process (a few seconds
    on one core)."""
    with TRAINING:
        return _trained(world.model_dump_json(), seed)

