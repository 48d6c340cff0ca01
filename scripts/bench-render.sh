#!/usr/bin/env bash
# Benchmark: render and split a 2 MB Markdown issue with `listctl preview`
# and compare with the cmark-gfm command-line tool on the same file, in the
# same run. Target: listctl's total time <= 3x cmark-gfm's.
#
#   bash scripts/bench-render.sh            # build release, run, write docs/BENCHMARKS-render.md
#   SCRATCH=.build-me bash scripts/bench-render.sh   # use another build folder
set -euo pipefail
cd "$(dirname "$0")/.."

SCRATCH=${SCRATCH:-.build}
SIZE=${SIZE:-2000000}
RUNS=${RUNS:-10}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/listctl-bench-render.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

for tool in hyperfine cmark-gfm python3; do
    command -v "$tool" >/dev/null || { echo "bench-render: $tool is missing; run make setup" >&2; exit 1; }
done

echo "bench-render: building listctl (release)..." >&2
swift build -c release --product listctl --scratch-path "$SCRATCH" >&2
LISTCTL="$SCRATCH/release/listctl"

# A deterministic issue: sections, paragraphs with footnotes, lists, tables,
# code and quotes, in the proportions of a long newsletter.
python3 - "$SIZE" > "$WORK/issue.md" <<'PY'
import random, sys
random.seed(42)
target = int(sys.argv[1])
words = ("the harbour ships sail north across grey water while cranes lift containers onto quays "
         "and pilots guide tankers through narrow channels at dawn Straße café naïve").split()
def sentence():
    return " ".join(random.choice(words) for _ in range(random.randint(6, 18))).capitalize() + "."
out = ["---", "subject: A very long issue", "preheader: Everything at once", "---", ""]
size, n, notes = 0, 0, []
while size < target:
    n += 1
    r = random.random()
    if n % 12 == 1:
        block = "## Section %d" % n
    elif r < 0.55:
        block = " ".join(sentence() for _ in range(random.randint(2, 8)))
        if random.random() < 0.2:
            notes.append("[^n%d]: %s" % (len(notes) + 1, sentence()))
            block += "[^n%d]" % len(notes)
        if random.random() < 0.2:
            block += " See [the archive](https://example.org/archive/%d) or *this* **bold** `code`." % n
    elif r < 0.7:
        block = "\n".join("- %s" % sentence() for _ in range(random.randint(2, 8)))
    elif r < 0.8:
        rows = ["| Port | Ships | Share |", "|:--|--:|:-:|"]
        rows += ["| %s | %d | %d%% |" % (random.choice(words), random.randint(1, 5000), random.randint(1, 99))
                 for _ in range(random.randint(3, 20))]
        block = "\n".join(rows)
    elif r < 0.9:
        block = "```\n" + "\n".join("let x%d = %d // %s" % (i, i, sentence()) for i in range(random.randint(3, 15))) + "\n```"
    else:
        block = "> " + sentence() + "\n> " + sentence()
    out.append(block)
    out.append("")
    size += len(block.encode()) + 2
out.extend(notes)
print("\n".join(out))
PY
BYTES=$(wc -c < "$WORK/issue.md")
echo "bench-render: issue is $BYTES bytes" >&2

# Check both commands work before timing them.
cmark-gfm -e table -e strikethrough -e autolink -e tasklist -e footnotes "$WORK/issue.md" > /dev/null
"$LISTCTL" preview "$WORK/issue.md" > "$WORK/preview.txt"
PARTS=$(grep -c '^[0-9]' "$WORK/preview.txt" || true)

hyperfine --warmup 2 --runs "$RUNS" --export-json "$WORK/result.json" \
    -n cmark-gfm "cmark-gfm -e table -e strikethrough -e autolink -e tasklist -e footnotes $WORK/issue.md" \
    -n "listctl preview" "$LISTCTL preview $WORK/issue.md" \
    -n "listctl preview --out" "$LISTCTL preview $WORK/issue.md --out $WORK/out" >&2

# Per-recipient cost: personalised messages built from the prepared parts.
MESSAGES=$("$LISTCTL" preview "$WORK/issue.md" --time-messages "${MESSAGE_COUNT:-50000}" | tail -1)
echo "bench-render: $MESSAGES" >&2

python3 - "$WORK/result.json" "$BYTES" "$PARTS" "$(date -u +%Y-%m-%dT%H:%MZ)" "$(nproc)" "$MESSAGES" "$(uptime | sed 's/.*load average: //')" <<'PY'
import json, sys
results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
size, parts, when, cores, messages, load = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7]
base = results["cmark-gfm"]["mean"]
lines = [
    "# Render benchmark (`make bench-render`)",
    "",
    f"Measured {when} on this machine ({cores} cores, shared with other work; load average {load}), release build, hyperfine mean of the runs.",
    f"Input: a generated {int(size):,}-byte Markdown issue (sections, footnotes, lists, tables, code, quotes),",
    f"split into {parts} parts at the default 90,000-byte budget.",
    "",
    "| command | mean | σ | × cmark-gfm |",
    "|---|---:|---:|---:|",
]
for name in ["cmark-gfm", "listctl preview", "listctl preview --out"]:
    r = results[name]
    lines.append(f"| `{name}` | {r['mean']*1000:.1f} ms | {r['stddev']*1000:.1f} ms | {r['mean']/base:.2f} |")
ratio = results["listctl preview"]["mean"] / base
lines += [
    "",
    f"`listctl preview` (parse, render HTML and text, split, quoted-printable encode every part) takes "
    f"{ratio:.2f}× the time of `cmark-gfm` rendering the same file to HTML; the target is ≤ 3×. "
    "`--out` also writes part-K.html/.txt/.eml for every part. CPU time (user + system) is the steadier "
    f"figure on a shared machine: {(results['listctl preview']['user'] + results['listctl preview']['system']) / (results['cmark-gfm']['user'] + results['cmark-gfm']['system']):.2f}× cmark-gfm's.",
    "",
    "Per-recipient message building (`listctl preview --time-messages N`: MessageBuilder.message(for:part:) "
    "from prepared parts, cycling through the parts, one core):",
    "",
    f"    {messages}",
    "",
    "Reproduce: `make bench-render` (or `bash scripts/bench-render.sh`).",
]
open("docs/BENCHMARKS-render.md", "w").write("\n".join(lines) + "\n")
print(f"listctl preview / cmark-gfm = {ratio:.2f} (target <= 3)")
PY
