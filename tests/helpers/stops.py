"""The stop-string rule written out plainly, to check every runtime against (tfcharrnn.sample_settings).

    from helpers.stops import apply_stops, never_in
    text, finish_reason, new_chars = apply_stops(full_text, ["\\n\\n"])   # full_text: the same sample without stops
    missing = never_in(full_text, vocab_chars)                             # a 2-character string the text never has
"""


def apply_stops(full: str, stops) -> tuple:
    """What a sample with ``stops`` must give, from the same sample without them (same seed and
    settings, same length): it ends at the first character that completes a stop string (the
    longest of those ending there), the text stops before it, new_chars counts it."""
    for end in range(1, len(full) + 1):
        hits = [s for s in stops if s and full[:end].endswith(s)]
        if hits:
            n = max(len(s) for s in hits)
            return full[: end - n], "stop", end
    return full, "length", len(full)


def never_in(full: str, chars) -> str:
    """A two-character string of ``chars`` that does not occur in ``full``."""
    for a in chars:
        for b in chars:
            if a + b not in full:
                return a + b
    raise AssertionError("every pair occurs")
