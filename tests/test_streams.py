import os
import subprocess
import sys

import numpy as np

from alosim.streams import Draws, Streams


def test_same_name_same_stream_and_names_are_independent():
    a = Streams(5).generator("link.data.loss").random(5)
    b = Streams(5).generator("link.data.loss").random(5)
    c = Streams(5).generator("link.ack.loss").random(5)
    d = Streams(6).generator("link.data.loss").random(5)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a, d)


def test_adding_a_stream_does_not_shift_another():
    streams = Streams(1)
    first = streams.generator("x").random(3)
    streams.generator("new-component").random(100)
    assert np.array_equal(first, Streams(1).generator("x").random(3))


def test_draws_hand_out_the_batch_in_order_across_refills():
    rng = np.random.default_rng(0)
    expected = np.random.default_rng(0).random(10).tolist()
    draws = Draws(rng.random, batch=3)
    assert [draws() for _ in range(9)] == expected[:9]


def test_streams_do_not_depend_on_hash_seed():
    code = "from alosim.streams import Streams; print(Streams(9).generator('a.b').random())"
    outputs = set()
    for hash_seed in ("1", "2", "random"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        outputs.add(subprocess.run([sys.executable, "-c", code], env=env, check=True,
                                   capture_output=True, text=True).stdout)
    assert len(outputs) == 1
