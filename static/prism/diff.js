// A word-level diff: texts become words, runs of whitespace and single punctuation marks, and
// Myers' O(ND) algorithm (linear-space, by middle snakes) finds the shortest edit between them.
// Returns [{op: "equal" | "insert" | "delete", text}], where equal + delete spell `a` and
// equal + insert spell `b`.

export function tokenize(text) {
  return text.match(/\s+|[\p{L}\p{N}_]+|[^\s\p{L}\p{N}_]/gu) || [];
}

export function diffWords(a, b) {
  const ops = [];
  diffTokens(tokenize(a), tokenize(b), ops);
  return tidy(ops);
}

// Pushes [op, token] pairs onto `out`.
function diffTokens(a, b, out) {
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length, endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) { endA--; endB--; }
  for (let i = 0; i < start; i++) out.push(["equal", a[i]]);
  const midA = a.slice(start, endA), midB = b.slice(start, endB);
  if (!midA.length) for (const t of midB) out.push(["insert", t]);
  else if (!midB.length) for (const t of midA) out.push(["delete", t]);
  else {
    const split = middleSnake(midA, midB);
    if (split) {
      diffTokens(midA.slice(0, split[0]), midB.slice(0, split[1]), out);
      diffTokens(midA.slice(split[0]), midB.slice(split[1]), out);
    } else {
      for (const t of midA) out.push(["delete", t]);
      for (const t of midB) out.push(["insert", t]);
    }
  }
  for (let i = endA; i < a.length; i++) out.push(["equal", a[i]]);
}

// Where a shortest edit path crosses its middle, searched from both ends at once (as in
// diff-match-patch's bisect). Both inputs are non-empty and differ at their first and last tokens,
// so the split always makes progress.
function middleSnake(a, b) {
  const n = a.length, m = b.length, maxD = Math.ceil((n + m) / 2), size = 2 * maxD;
  const forward = new Int32Array(size).fill(-1), backward = new Int32Array(size).fill(-1);
  forward[maxD + 1] = 0;
  backward[maxD + 1] = 0;
  const delta = n - m, odd = delta % 2 !== 0;
  // Diagonals that ran off the grid are not searched again.
  let fStart = 0, fEnd = 0, bStart = 0, bEnd = 0;
  for (let d = 0; d < maxD; d++) {
    for (let k = -d + fStart; k <= d - fEnd; k += 2) {
      const i = maxD + k;
      let x = k === -d || (k !== d && forward[i - 1] < forward[i + 1]) ? forward[i + 1] : forward[i - 1] + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) { x++; y++; }
      forward[i] = x;
      if (x > n) fEnd += 2;
      else if (y > m) fStart += 2;
      else if (odd) {
        const j = maxD + delta - k; // the same diagonal, counted from the end
        if (j >= 0 && j < size && backward[j] !== -1 && x >= n - backward[j]) return [x, y];
      }
    }
    for (let k = -d + bStart; k <= d - bEnd; k += 2) {
      const i = maxD + k;
      let x = k === -d || (k !== d && backward[i - 1] < backward[i + 1]) ? backward[i + 1] : backward[i - 1] + 1;
      let y = x - k;
      while (x < n && y < m && a[n - 1 - x] === b[m - 1 - y]) { x++; y++; }
      backward[i] = x;
      if (x > n) bEnd += 2;
      else if (y > m) bStart += 2;
      else if (!odd) {
        const j = maxD + delta - k;
        if (j >= 0 && j < size && forward[j] !== -1 && forward[j] >= n - x) return [forward[j], forward[j] - (delta - k)];
      }
    }
  }
  return null; // no common token at all
}

// Joins tokens into runs, puts a change's deletion before its insertion, and lets whitespace
// alone between two changes join them, so a replaced phrase reads as one deletion and one insertion.
function tidy(pairs) {
  const runs = [];
  for (const [op, text] of pairs) {
    const last = runs[runs.length - 1];
    if (last && last.op === op) last.text += text;
    else runs.push({ op, text });
  }
  const result = [];
  let removed = "", added = "";
  const flush = () => {
    if (removed) result.push({ op: "delete", text: removed });
    if (added) result.push({ op: "insert", text: added });
    removed = added = "";
  };
  runs.forEach((run, index) => {
    if (run.op === "delete") removed += run.text;
    else if (run.op === "insert") added += run.text;
    else if ((removed || added) && index < runs.length - 1 && /^\s+$/.test(run.text)) {
      removed += run.text;
      added += run.text;
    } else {
      flush();
      result.push(run);
    }
  });
  flush();
  return result;
}
