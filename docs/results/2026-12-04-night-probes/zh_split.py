"""Split a checkpoint's validation loss on the Chinese text: characters seen in training vs not."""
import sys
import numpy as np
import tensorflow as tf
from tfcharrnn import data
from tfcharrnn.evaluate import _checkpoint_scorer
from tfcharrnn.scoring import score_ids

path, text = sys.argv[1], sys.argv[2]
corpus = data.load_corpus(text, 0.1, 0.0)
sc = _checkpoint_scorer(path)
train_set = np.unique(np.asarray(corpus.train))
val = np.asarray(corpus.val)
unseen = ~np.isin(np.arange(sc.vocab.size), train_set)
mask_tab = tf.constant(unseen.astype(np.float32))

def masked(x, y, w, state):
    return sc.score(x, y, w * tf.gather(mask_tab, y), state)

init = lambda rows: np.zeros((rows, sc.num_states, sc.hidden_size), np.float32)
total = score_ids(sc.score, init, val, rows=64, chunk=100)
part = score_ids(masked, init, val, rows=64, chunk=100)
n_unseen = int(unseen[val[1:]].sum())
print(f"{path}: val {total.mean:.4f} nats/char over {total.scored}; unseen-in-train targets {n_unseen} "
      f"({n_unseen / total.scored:.2%}) carry {part.nats / total.scored:.4f} nats/char of it "
      f"({part.nats / max(n_unseen, 1):.2f} nats each); the rest {(total.nats - part.nats) / (total.scored - n_unseen):.4f} per char")
