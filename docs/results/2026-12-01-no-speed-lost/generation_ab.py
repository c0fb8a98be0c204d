import sys, time, os
sys.path.insert(0, sys.argv[1])
os.environ["TF_CPP_MIN_LOG_LEVEL"]="3"
import numpy as np, keras
from tfcharrnn.config import ModelConfig
from tfcharrnn.model import CharRNN
from tfcharrnn.sampling import Generator
from tfcharrnn.vocab import Vocabulary
vocab = Vocabulary.from_text(open(os.path.join(sys.argv[1], "tfcharrnn/assets/tinyshakespeare.txt")).read())
keras.utils.set_random_seed(0)
hidden, batch = int(sys.argv[2]), int(sys.argv[3])
m = CharRNN(ModelConfig(vocab_size=vocab.size, hidden_size=hidden, num_layers=2))
g = Generator(m, vocab)
g.sample_text("T", 50, num_samples=batch)
best = 0
for r in range(5):
    t0 = time.perf_counter(); g.sample_text("T", 400, seed=r, num_samples=batch); dt = time.perf_counter() - t0
    best = max(best, 400 * batch / dt)
print(f"{sys.argv[1]} {hidden} b{batch} {best:,.0f}")
