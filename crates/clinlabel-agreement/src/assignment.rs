//! Optimal one-to-one assignment (Hungarian algorithm with potentials, Kuhn 1955 /
//! Munkres 1957, in the O(n²m) shortest-augmenting-path form), used to match spans,
//! instances and speakers. Never greedy.

/// Maximum-weight one-to-one matching on a dense `n_rows × n_cols` weight matrix
/// (row-major). Only pairs with a weight `> 0` are returned: a zero or negative
/// weight means "may not be matched". Returns (row, col) pairs sorted by row.
#[allow(clippy::needless_range_loop)] // index arithmetic mirrors the textbook algorithm
pub fn max_weight_matching(n_rows: usize, n_cols: usize, weights: &[f64]) -> Vec<(usize, usize)> {
    assert_eq!(weights.len(), n_rows * n_cols);
    if n_rows == 0 || n_cols == 0 {
        return Vec::new();
    }
    let transpose = n_rows > n_cols;
    let (n, m) = if transpose {
        (n_cols, n_rows)
    } else {
        (n_rows, n_cols)
    };
    // cost[i][j] = -max(w, 0): minimising cost maximises the positive weight.
    let cost = |i: usize, j: usize| -> f64 {
        let w = if transpose {
            weights[j * n_cols + i]
        } else {
            weights[i * n_cols + j]
        };
        if w > 0.0 { -w } else { 0.0 }
    };
    let inf = f64::INFINITY;
    let mut u = vec![0.0; n + 1];
    let mut v = vec![0.0; m + 1];
    let mut p = vec![0usize; m + 1];
    let mut way = vec![0usize; m + 1];
    let mut minv = vec![inf; m + 1];
    let mut used = vec![false; m + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0usize;
        minv.iter_mut().for_each(|x| *x = inf);
        used.iter_mut().for_each(|x| *x = false);
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = inf;
            let mut j1 = 0usize;
            for j in 1..=m {
                if !used[j] {
                    let cur = cost(i0 - 1, j - 1) - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=m {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut out = Vec::new();
    for j in 1..=m {
        if p[j] != 0 {
            let (r, c) = if transpose {
                (j - 1, p[j] - 1)
            } else {
                (p[j] - 1, j - 1)
            };
            if weights[r * n_cols + c] > 0.0 {
                out.push((r, c));
            }
        }
    }
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total(w: &[f64], cols: usize, m: &[(usize, usize)]) -> f64 {
        m.iter().map(|&(r, c)| w[r * cols + c]).sum()
    }

    #[test]
    fn beats_greedy() {
        // Greedy takes (0,0)=10 then (1,1)=1 → 11; optimum (0,1)+(1,0) = 9+9 = 18.
        let w = [10.0, 9.0, 9.0, 1.0];
        let m = max_weight_matching(2, 2, &w);
        assert_eq!(m, vec![(0, 1), (1, 0)]);
    }

    #[test]
    fn rectangular_and_forbidden_pairs() {
        // 3 rows × 2 cols, row 2 only compatible with nothing.
        let w = [0.0, 5.0, 4.0, 6.0, 0.0, 0.0];
        let m = max_weight_matching(3, 2, &w);
        assert_eq!(total(&w, 2, &m), 9.0);
        assert_eq!(m, vec![(0, 1), (1, 0)]);
        // transpose case
        let wt = [0.0, 4.0, 0.0, 5.0, 6.0, 0.0];
        assert_eq!(max_weight_matching(2, 3, &wt), vec![(0, 1), (1, 0)]);
    }

    #[test]
    fn brute_force_agreement_on_small_matrices() {
        let mut rng = crate::rng::Rng::new(3);
        for _ in 0..200 {
            let (r, c) = (1 + rng.below(4) as usize, 1 + rng.below(4) as usize);
            let w: Vec<f64> = (0..r * c)
                .map(|_| {
                    if rng.below(3) == 0 {
                        0.0
                    } else {
                        rng.below(10) as f64
                    }
                })
                .collect();
            let best = brute(r, c, &w, 0, &mut vec![false; c]);
            let m = max_weight_matching(r, c, &w);
            assert_eq!(total(&w, c, &m), best, "{r}x{c} {w:?}");
        }
    }

    fn brute(r: usize, c: usize, w: &[f64], row: usize, used: &mut Vec<bool>) -> f64 {
        if row == r {
            return 0.0;
        }
        let mut best = brute(r, c, w, row + 1, used);
        for j in 0..c {
            if !used[j] && w[row * c + j] > 0.0 {
                used[j] = true;
                best = best.max(w[row * c + j] + brute(r, c, w, row + 1, used));
                used[j] = false;
            }
        }
        best
    }
}
