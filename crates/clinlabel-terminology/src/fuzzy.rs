//! Typo-tolerant word lookup: the sorted vocabulary walked as a trie with a
//! Damerau–Levenshtein (optimal string alignment) row per node.
//!
//! Words sharing a prefix are contiguous in a sorted vocabulary, so a trie
//! node is a range of words and its children are found by binary search on
//! the next byte. Each node extends the previous row by one character; a
//! subtree is abandoned as soon as every cell of its row exceeds the budget.
//! A node whose last cell is within budget makes every word below it a
//! *prefix* match at that distance (the query may be a typo'd prefix), and a
//! word ending at that node a *whole-word* match.

/// One vocabulary word within the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fuzzy {
    pub word: u32,
    pub dist: u8,
    /// The whole word is within `dist` (not only one of its prefixes).
    pub whole: bool,
}

/// Every word of `vocab` (sorted, unique) whose whole or a prefix is within
/// `max` edits of `q`, with its best distance, sorted by word index. With
/// `first_exact`, only words starting with `q`'s first byte are considered
/// (typos rarely hit the first letter, and it divides the walk by the alphabet).
pub(crate) fn matches(vocab: &[Box<str>], q: &[u8], max: u8, first_exact: bool) -> Vec<Fuzzy> {
    let m = q.len();
    let mut rows = vec![0u8; (m + 1) * 8];
    for (j, cell) in rows[..=m].iter_mut().enumerate() {
        *cell = j.min(255) as u8;
    }
    let mut walk = Walk { vocab, q, max, width: m + 1, rows, ranges: Vec::new(), wholes: Vec::new(), first: first_exact.then(|| q.first().copied()).flatten() };
    if !vocab.is_empty() {
        walk.node(0, 0, vocab.len());
    }
    let Walk { ranges, wholes, .. } = walk;
    let mut best: Vec<Fuzzy> = Vec::new();
    for (lo, hi, dist) in ranges {
        for w in lo..hi {
            best.push(Fuzzy { word: w as u32, dist, whole: false });
        }
    }
    for (w, dist) in wholes {
        best.push(Fuzzy { word: w as u32, dist, whole: true });
    }
    // Per word: the smallest distance, a whole-word match before a prefix one.
    best.sort_unstable_by_key(|f| (f.word, f.dist, !f.whole));
    best.dedup_by_key(|f| f.word);
    best
}

struct Walk<'a> {
    vocab: &'a [Box<str>],
    q: &'a [u8],
    max: u8,
    /// Cells per row (query length + 1).
    width: usize,
    /// Row d (distances between q[..j] and the current prefix of length d) at rows[d * width..].
    rows: Vec<u8>,
    ranges: Vec<(usize, usize, u8)>,
    wholes: Vec<(usize, u8)>,
    /// Only this first byte, when set.
    first: Option<u8>,
}

impl Walk<'_> {
    /// Visits the children of the node at `depth` holding words `lo..hi`.
    fn node(&mut self, depth: usize, lo: usize, hi: usize) {
        let (m, width) = (self.q.len(), self.width);
        if self.rows.len() < (depth + 2) * width {
            self.rows.resize((depth + 2) * width * 2, 0);
        }
        let mut i = lo;
        // A word equal to the prefix sorts first; it has no child byte.
        if self.vocab[i].len() == depth {
            i += 1;
        }
        while i < hi {
            let word = self.vocab[i].as_bytes();
            let c = word[depth];
            let j = i + self.vocab[i..hi].partition_point(|w| w.as_bytes()[depth] <= c);
            if depth == 0 && self.first.is_some_and(|f| f != c) {
                i = j;
                continue;
            }
            let prev_char = if depth > 0 { Some(word[depth - 1]) } else { None };
            let (head, tail) = self.rows.split_at_mut((depth + 1) * width);
            let prev = &head[depth * width..];
            let before = if depth > 0 { Some(&head[(depth - 1) * width..depth * width]) } else { None };
            let row = &mut tail[..width];
            row[0] = (depth + 1).min(255) as u8;
            let mut min = row[0];
            for k in 1..=m {
                let cost = u8::from(self.q[k - 1] != c);
                let mut v = (prev[k].saturating_add(1)).min(row[k - 1].saturating_add(1)).min(prev[k - 1].saturating_add(cost));
                if let (Some(pc), Some(before)) = (prev_char, before)
                    && k >= 2
                    && self.q[k - 1] == pc
                    && self.q[k - 2] == c
                {
                    v = v.min(before[k - 2].saturating_add(1));
                }
                row[k] = v;
                min = min.min(v);
            }
            let last = row[m];
            if last <= self.max {
                self.ranges.push((i, j, last));
                if word.len() == depth + 1 {
                    self.wholes.push((i, last));
                }
            }
            if min <= self.max && last > 0 {
                self.node(depth + 1, i, j);
            }
            i = j;
        }
    }
}

/// The optimal-string-alignment distance (for tests and checks).
#[cfg(test)]
pub(crate) fn osa(a: &[u8], b: &[u8]) -> usize {
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for j in 0..=m {
        d[0][j] = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[n][m]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab(words: &[&str]) -> Vec<Box<str>> {
        let mut v: Vec<Box<str>> = words.iter().map(|w| Box::<str>::from(*w)).collect();
        v.sort();
        v.dedup();
        v
    }

    #[test]
    fn finds_transpositions_insertions_and_prefixes() {
        let v = vocab(&["pneumonia", "pneumonitis", "pneumothorax", "pleura", "diabetes", "diabetic", "mellitus", "pneumonias"]);
        let found = |q: &str, max| -> Vec<(String, u8, bool)> {
            matches(&v, q.as_bytes(), max, false).into_iter().map(|f| (v[f.word as usize].to_string(), f.dist, f.whole)).collect()
        };
        let r = found("pneumonai", 1);
        assert!(r.contains(&("pneumonia".into(), 1, true)), "{r:?}");
        // "pneumonias" is within 1 only through its prefix "pneumonia".
        assert!(r.contains(&("pneumonias".into(), 1, false)), "{r:?}");
        assert!(!r.iter().any(|(w, ..)| w == "pneumothorax"), "{r:?}");
        let r = found("diabtes", 1);
        assert_eq!(r, vec![("diabetes".to_string(), 1, true)]);
        // An exact prefix is distance 0 for every word below it.
        let r = found("diab", 0);
        assert_eq!(r, vec![("diabetes".to_string(), 0, false), ("diabetic".to_string(), 0, false)]);
    }

    #[test]
    fn agrees_with_the_plain_distance() {
        // A word's distance is the smallest OSA distance between the query and
        // any non-empty prefix of the word, whenever that is within the budget.
        let words = ["abc", "acb", "abd", "abcd", "bac", "xyz", "ab", "a", "abcde", "cab", "bca", "aabc", "abcc", "acbd", "ba"];
        let v = vocab(&words);
        for q in ["abc", "acb", "ab", "abcd", "ba", "cba", "aacb", "bcd", "x"] {
            for max in 0..=2u8 {
                let got: Vec<(String, u8)> =
                    matches(&v, q.as_bytes(), max, false).into_iter().map(|f| (v[f.word as usize].to_string(), f.dist)).collect();
                let want: Vec<(String, u8)> = v
                    .iter()
                    .filter_map(|w| {
                        let d = (1..=w.len()).map(|n| osa(q.as_bytes(), &w.as_bytes()[..n])).min().unwrap();
                        (d <= max as usize).then(|| (w.to_string(), d as u8))
                    })
                    .collect();
                assert_eq!(got, want, "q={q} max={max}");
            }
        }
    }
}
