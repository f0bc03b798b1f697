"""Write the general-English reference corpus shipped with the package (the default prior).

Texts of 100-300 words drawn independently from the 30,000 most frequent English words of
``wordfreq`` (weighted by their frequency; Speer, 2022: Wikipedia, subtitles, news, books,
web text, Twitter and Reddit), with sentence punctuation and capitals at a rate of one mark
per 15 words. A unigram sample has the word frequencies of English without its syntax; it
is honest data (never the text being explained) that any tokenizer can read. ``wordfreq`` is
needed only to regenerate the file (``pip install wordfreq``); its data is licensed CC BY-SA
4.0, and so is this derived sample.

    python scripts/make_general_corpus.py --texts 2000 --output ib_nlp/assets/priors/general-english.txt.gz
"""

from __future__ import annotations

import argparse
import gzip
import random
import sys
from pathlib import Path

PUNCTUATION = [".", ".", ".", ",", "!", "?"]


def sample_texts(count: int, vocabulary: int, seed: int) -> list[str]:
    """``count`` pseudo-texts of frequency-weighted English words."""
    import wordfreq

    words = wordfreq.top_n_list("en", vocabulary)
    weights = [wordfreq.word_frequency(word, "en") for word in words]
    generator = random.Random(seed)
    texts = []
    for _ in range(count):
        pieces, capital = [], True
        for word in generator.choices(words, weights, k=generator.randint(100, 300)):
            pieces.append(word.capitalize() if capital else word)
            capital = False
            if generator.random() < 1 / 15:
                pieces[-1] += generator.choice(PUNCTUATION)
                capital = pieces[-1][-1] != ","
        texts.append(" ".join(pieces) + ".")
    return texts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--vocabulary", type=int, default=30000, help="most frequent English words to draw from")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(argv)
    texts = sample_texts(args.texts, args.vocabulary, args.seed)
    with gzip.open(args.output, "wt", encoding="utf-8", compresslevel=9) as handle:
        handle.write("\n".join(texts) + "\n")
    print(f"wrote {len(texts)} texts ({sum(len(text.split()) for text in texts):,} words) to {args.output} ({args.output.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
