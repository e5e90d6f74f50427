"""Runs medspaCy's ConText (default English rules, PyRuSH sentences) on labelled
targets, for `clinlabel bench text` (which embeds this script and runs it in the
venv of ci/testdata/text.sh).

stdin: JSONL {"id", "text", "start", "end"} (char offsets of the target)
stdout: JSONL {"id", "assertion", "flags"}, the assertion chosen with clinlabel's
precedence: absent > family_history > hypothetical > possible > historical > present.
"""
import json
import sys
import time

import medspacy

try:  # PyRuSH logs every sentence at DEBUG through loguru
    from loguru import logger
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
except ImportError:
    pass

nlp = medspacy.load()  # medspacy_pyrush, medspacy_target_matcher, medspacy_context
context = nlp.get_pipe("medspacy_context")
before = [(n, p) for n, p in nlp.pipeline if n not in ("medspacy_target_matcher", "medspacy_context")]
PRECEDENCE = [("is_negated", "absent"), ("is_family", "family_history"), ("is_hypothetical", "hypothetical"),
              ("is_uncertain", "possible"), ("is_historical", "historical")]
t0 = time.perf_counter()
n = 0
for line in sys.stdin:
    if not line.strip():
        continue
    row = json.loads(line)
    doc = nlp.make_doc(row["text"])
    for _, pipe in before:
        doc = pipe(doc)
    span = doc.char_span(row["start"], row["end"], label="TARGET", alignment_mode="expand")
    flags = {}
    assertion = "present"
    if span is not None:
        doc.ents = [span]
        doc = context(doc)
        ent = doc.ents[0]
        flags = {k: bool(getattr(ent._, k)) for k, _ in PRECEDENCE}
        for k, v in PRECEDENCE:
            if flags[k]:
                assertion = v
                break
    print(json.dumps({"id": row["id"], "assertion": assertion, "flags": flags}))
    n += 1
print(json.dumps({"done": n, "seconds": time.perf_counter() - t0}), file=sys.stderr)
