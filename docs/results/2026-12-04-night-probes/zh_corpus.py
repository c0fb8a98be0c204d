"""How the Chinese text's training 90% and validation 10% differ: usage: python zh_corpus.py TEXT"""
import collections
import sys

text = open(sys.argv[1], encoding="utf-8").read()
cut = int(len(text) * 0.9)
train, val = text[:cut], text[cut:]
seen = collections.Counter(train)
print(f"{len(text):,} characters; validation {len(val):,}, of which {sum(c not in seen for c in val):,} never occur in training")


def repeated(s, k=20, every=7):
    """The share of k-grams (one every `every` characters) that occurred earlier in s."""
    grams, hits = set(), 0
    for i in range(0, len(s) - k, every):
        hits += s[i:i + k] in grams
        grams.add(s[i:i + k])
    return hits / (len(s) // every)


train_grams = {train[i:i + 20] for i in range(len(train) - 20)}
shared = sum(val[i:i + 20] in train_grams for i in range(0, len(val) - 20, 7)) / (len(val) // 7)
print(f"20-grams repeated within training {repeated(train):.1%}, within validation {repeated(val):.1%}; "
      f"validation 20-grams found in training {shared:.2%}")
for f in (0.1, 0.5, 0.85, 0.92, 0.97):
    i = int(len(text) * f)
    print(f"at {f:.0%}: {text[i:i + 60]!r}")
