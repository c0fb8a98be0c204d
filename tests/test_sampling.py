"""Sampler strategies on fake one-hot logits, the counter RNG, and the generation loop."""

import numpy as np
import pytest
import tensorflow as tf

from tfcharrnn import rng, sampling
from tfcharrnn.config import ModelConfig
from tfcharrnn.model import CharRNN

V = 10


def one_hot_logits(index, batch=4, high=10.0):
    logits = np.zeros((batch, V), np.float32)
    logits[:, index] = high
    return tf.constant(logits)


def pick(logits, u=0.5, temperature=1.0, top_k=0, top_p=1.0):
    b = logits.shape[0]
    full = lambda v, dt: tf.constant(np.full(b, v, dt))  # noqa: E731
    return sampling.pick(logits, full(u, np.float32), full(temperature, np.float32), full(top_k, np.int32), full(top_p, np.float32)).numpy()


def test_greedy_takes_the_argmax():
    assert list(pick(one_hot_logits(3), temperature=0.0)) == [3] * 4
    assert list(sampling.greedy(one_hot_logits(7)).numpy()) == [7] * 4


@pytest.mark.parametrize("u", [1e-3, 0.3, 0.999])
def test_peaked_distribution_always_gives_the_peak(u):
    assert list(pick(one_hot_logits(5, high=50.0), u=u)) == [5] * 4


def test_inverse_cdf_follows_the_uniform():
    logits = tf.zeros((1, V))  # uniform over 10 tokens: u in [k/10, (k+1)/10) picks k
    for k in range(V):
        assert pick(logits, u=(k + 0.5) / V)[0] == k


def test_top_k_one_is_greedy_and_top_k_restricts():
    logits = tf.constant(np.log(np.array([[0.05, 0.4, 0.3, 0.25] + [0.0] * 6]) + 1e-12), tf.float32)
    for u in np.linspace(0, 0.999, 25):
        assert pick(logits, u=u, top_k=1)[0] == 1
        assert pick(logits, u=u, top_k=2)[0] in (1, 2)


def test_top_p_keeps_the_smallest_nucleus():
    probs = np.array([[0.5, 0.3, 0.15, 0.05] + [0.0] * 6])
    logits = tf.constant(np.log(probs + 1e-12), tf.float32)
    picked = {int(pick(logits, u=u, top_p=0.7)[0]) for u in np.linspace(0, 0.999, 50)}
    assert picked == {0, 1}
    assert {int(pick(logits, u=u, top_p=1e-6)[0]) for u in np.linspace(0, 0.999, 20)} == {0}


def test_temperature_sharpens():
    logits = tf.constant([[1.0, 2.0] + [-30.0] * 8])
    cold = [pick(logits, u=u, temperature=0.05)[0] for u in np.linspace(0.01, 0.99, 20)]
    assert set(cold) == {1}


def test_per_row_parameters_in_one_batch():
    logits = tf.constant(np.tile(np.log(np.array([0.1, 0.2, 0.3, 0.4] + [1e-9] * 6)), (3, 1)), tf.float32)
    out = sampling.pick(logits, tf.constant([0.01, 0.01, 0.01]), tf.constant([0.0, 1.0, 1.0]), tf.constant([0, 0, 1]), tf.constant([1.0, 1.0, 1.0])).numpy()
    assert out[0] == 3 and out[1] == 0 and out[2] == 3


def test_tensorflow_rng_equals_pure_python():
    seeds = np.array([0, 1, 42, -7, 2**40 + 3, 2**31 - 1], np.int64)
    for step in [0, 1, 2, 1000, rng.START_STEP]:
        got = sampling.uniform(tf.constant(seeds), step).numpy()
        want = np.array([rng.uniform(int(s), step) for s in seeds], np.float32)
        np.testing.assert_array_equal(got, want)
    values = np.array([rng.uniform(1, i) for i in range(5000)])
    assert 0 <= values.min() and values.max() < 1 and abs(values.mean() - 0.5) < 0.02


@pytest.fixture(scope="module")
def model():
    tf.random.set_seed(3)
    return CharRNN(ModelConfig(vocab_size=V, hidden_size=16, num_layers=2))


def test_same_seed_same_text_and_different_seed_differs(model):
    gen = sampling.Generator(model)
    a = gen.generate(np.array([[1, 2, 3]]), 3, 50, 11)
    b = gen.generate(np.array([[1, 2, 3]]), 3, 50, 11)
    c = gen.generate(np.array([[1, 2, 3]]), 3, 50, 12)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.shape == (1, 50) and a.min() >= 0 and a.max() < V


def test_loop_equals_a_python_reference(model):
    """The compiled loop = read the prompt once, then next() + pick() per character."""
    prompt, n, seed, temp = [4, 1, 7, 2], 30, 5, 0.9
    got = sampling.Generator(model).generate(np.array([prompt]), len(prompt), n, seed, temperature=temp)[0]
    state = model.initial_state(1)
    for t in prompt[:-1]:
        _, state = model.next(tf.constant([t]), state)
    current, want = prompt[-1], []
    for i in range(n):
        logits, state = model.next(tf.constant([current]), state)
        current = int(pick(logits, u=rng.uniform(seed, i), temperature=temp)[0])
        want.append(current)
    assert list(got) == want


def test_prompts_of_different_lengths_in_one_batch(model):
    """Each row of a padded batch gives what it gives alone: padding never enters the state."""
    gen = sampling.Generator(model)
    prompts = [[1, 2, 3, 4, 5], [6], [7, 8]]
    padded = np.zeros((3, 5), np.int32)
    for i, p in enumerate(prompts):
        padded[i, : len(p)] = p
    batch = gen.generate(padded, [5, 1, 2], [20, 20, 20], [1, 2, 3], temperature=0.0)
    for i, p in enumerate(prompts):
        alone = gen.generate(np.array([p]), len(p), 20, i + 1, temperature=0.0)
        np.testing.assert_array_equal(batch[i], alone[0])


def test_empty_prompt_starts_from_a_seeded_random_character_and_lengths_pad(model):
    gen = sampling.Generator(model)
    out = gen.generate(np.zeros((2, 1), np.int32), [0, 0], [5, 3], [9, 9])
    start = min(int(rng.uniform(9, rng.START_STEP) * V), V - 1)
    assert out[0, 0] == start and out[1, 0] == start
    np.testing.assert_array_equal(out[0, :3], out[1, :3])
    assert list(out[1, 3:]) == [-1, -1]


# ---------------------------------------------------------------------------------------------
# stop strings and the temperature convention (the rule: tfcharrnn.sample_settings; helpers/stops.py writes it out)


@pytest.fixture(scope="module")
def letters(model):
    from tfcharrnn.vocab import Vocabulary

    return sampling.Generator(model, Vocabulary.from_text("abcdefghij"))


def test_stop_strings_end_each_row_where_its_text_completes_one(letters):
    from helpers.stops import apply_stops

    full = letters.sample_text("abc", 60, seed=11, num_samples=3)
    first = full[0].index(full[0][30])  # where that character first occurs: a 1-character stop ends there
    cases = [
        [full[0][20:22]],  # fires in row 0 at its first occurrence (at 21 at the latest), maybe in other rows
        [full[1][30:33], full[2][40:42]],  # two stop strings, any row
        [full[0][30], full[0][first - 1:first + 1]] if first else [full[0][30]],  # both end there: the longest wins
        ["c" + full[0][0]],  # the prompt's last character + the first generated one: no match across the prompt
        ["jjjjjjjjjjjjjjjjj"],  # never occurs: the full length
    ]
    for stops in cases:
        got = letters.sample("abc", 60, seed=11, num_samples=3, stop=stops)
        assert [tuple(s) for s in got] == [apply_stops(t, stops) for t in full], stops
    got = letters.sample("abc", 60, seed=11, num_samples=3, stop=[full[0][20:22]])[0]
    assert got.finish_reason == "stop" and got.new_chars <= 22 and full[0][got.new_chars - 2:got.new_chars] == full[0][20:22]
    assert letters.sample("abc", 60, seed=11, stop=["c" + full[0][0]])[0].new_chars > 1
    # an empty prompt's seeded first character is generated text: a stop string can end on it
    empty = letters.sample_text("", 30, seed=5, num_samples=2)
    assert [tuple(s) for s in letters.sample("", 30, seed=5, num_samples=2, stop=[empty[0][0]])] == \
        [apply_stops(t, [empty[0][0]]) for t in empty]
    assert letters.sample("", 30, seed=5, stop=[empty[0][0]])[0] == ("", "stop", 1)


def test_the_loop_ends_when_every_row_has_stopped(model):
    """Run eagerly (the while loop is a Python loop then) and count the model's steps."""
    calls = []

    def next_fn(ids, state):
        calls.append(1)
        return model.next(ids, state)

    def run(n, stop_ids=None):
        calls.clear()
        g = sampling.generate_ids(next_fn, model.initial_state(2), [[1, 2, 3], [4, 5, 0]], [3, 2], [n, n], [11, 12],
                                  [1.0, 1.0], [0, 0], [1.0, 1.0], V, stop_ids=stop_ids)
        return g, len(calls) - 2  # the prompt: 2 steps

    full, steps = run(200)
    assert steps == 200 and full.ids.shape == (2, 200)
    a, b = full.ids[0, 10:12].numpy(), full.ids[1, 30:33].numpy()
    stop_ids = -np.ones((2, 2, 3), np.int32)  # (B, K, L): row 0's string a, row 1's b; the second of each is empty
    stop_ids[0, 0, :2], stop_ids[1, 0] = a, b
    stopped, steps = run(200, stop_ids)  # row 0 ends by 12 characters, row 1 by 33
    new_chars = stopped.new_chars.numpy()
    assert stopped.stopped.numpy().all() and new_chars[0] <= 12 and new_chars[1] <= 33
    assert steps == -(-max(new_chars) // sampling.UNROLL) * sampling.UNROLL  # to the end of the last row's UNROLL block
    for row in range(2):
        text = stopped.ids[row].numpy()
        kept = text[text >= 0]
        np.testing.assert_array_equal(kept, full.ids[row, : new_chars[row] - [2, 3][row]].numpy())


def test_temperature_zero_is_greedy_and_bad_values_are_user_errors(letters):
    from tfcharrnn.errors import UserError
    from tfcharrnn.sample_settings import MAX_STOP_CHARS

    assert letters.sample_text("abc", 30, seed=1, temperature=0.0) == letters.sample_text("abc", 30, seed=99, temperature=0.0)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(UserError, match=r"temperature must be a finite number >= 0 \(0 = greedy\)"):
            letters.sample_text("abc", 5, temperature=bad)
    with pytest.raises(UserError, match="never saw: 'z'.*could never generate it"):
        letters.sample("abc", 5, stop=["az"])
    with pytest.raises(UserError, match=f"is {MAX_STOP_CHARS + 1} characters long; a stop string is at most {MAX_STOP_CHARS}"):
        letters.sample("abc", 5, stop=["a" * (MAX_STOP_CHARS + 1)])
    assert letters.sample("abc", 5, stop=["a" * MAX_STOP_CHARS, ""])[0].new_chars == 5  # at the cap is fine; "" is no stop


def test_the_command_line_sampler_generates_inside_one_compiled_function(tiny_checkpoint, monkeypatch, capsys):
    """scripts/sample.py on a checkpoint: the model's step is called from Python only while the loop is
    traced, the same few times for 5 characters as for 300; a Python loop over the characters (or the
    loop run eagerly) would call it once per character."""
    from tfcharrnn.cli.sample import main
    from tfcharrnn.model import Stepper

    calls = []
    step = Stepper.__call__
    monkeypatch.setattr(Stepper, "__call__", lambda self, *args: calls.append(1) or step(self, *args))
    counts = {}
    for length in (5, 300):
        calls.clear()
        assert main([tiny_checkpoint, "--length", str(length), "--num_samples", "2", "--prime", "ROMEO:"]) == 0
        counts[length] = len(calls)
    out = capsys.readouterr().out
    assert out.count("==== sample") == 4 and len(out) > 2 * 300
    assert 0 < counts[5] == counts[300] < 20, counts
