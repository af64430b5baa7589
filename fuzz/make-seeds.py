#!/usr/bin/env python3
"""Seed corpus for `esl_decode`: every frame of every FreeSWITCH capture, alone and with its
successor, cut from tests/fixtures/esl/*.fs2app.raw. Frames are found the same way the codec
does (header block up to a blank line, then Content-Length bytes). Writes fuzz/corpus/esl_decode/
(git-ignored); run from the repository root: python3 fuzz/make-seeds.py"""

import glob
import hashlib
import os

OUT = "fuzz/corpus/esl_decode"


def frames(data):
    pos = 0
    while pos < len(data):
        end = data.find(b"\n\n", pos)
        if end < 0:
            return
        head = data[pos:end]
        length = 0
        for line in head.split(b"\n"):
            name, _, value = line.partition(b": ")
            if name.lower() == b"content-length":
                length = int(value)
        stop = end + 2 + length
        yield data[pos:stop]
        pos = stop


os.makedirs(OUT, exist_ok=True)
count = 0
for path in sorted(glob.glob("tests/fixtures/esl/*.fs2app.raw")):
    cut = list(frames(open(path, "rb").read()))
    seeds = cut + [a + b for a, b in zip(cut, cut[1:])]
    for frame in cut:
        # The event body alone exercises the plain and JSON event parsers directly.
        body = frame[frame.find(b"\n\n") + 2:]
        if body:
            seeds.append(body)
    for seed in seeds:
        name = hashlib.sha1(seed).hexdigest()
        with open(os.path.join(OUT, name), "wb") as out:
            out.write(seed)
        count += 1
print(f"{count} seeds in {OUT}")
