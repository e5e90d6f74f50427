//! Exact intersection area of two simple polygons, without constructing the
//! clipped polygon: by Green's theorem, area(P ∩ Q) = ∮ x dy over ∂(P ∩ Q), and
//! ∂(P ∩ Q) is made of the pieces of ∂P inside Q, the pieces of ∂Q inside P, and
//! the pieces of ∂P on ∂Q running in the same direction (counted once). Each edge
//! is split at every intersection with the other polygon's edges and each piece
//! classified by its midpoint, so the only rounding is that of the intersection
//! points themselves (no snapping to a grid). O(n·m) for n and m vertices.

type Pt = [f64; 2];

fn cross(o: Pt, a: Pt, b: Pt) -> f64 {
    (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
}

/// Vertices without the closing duplicate and repeated points, counter-clockwise.
/// `None` when fewer than three distinct vertices remain or a coordinate is not finite.
fn normalise(points: &[Pt]) -> Option<Vec<Pt>> {
    if points
        .iter()
        .any(|p| !(p[0].is_finite() && p[1].is_finite()))
    {
        return None;
    }
    let mut v: Vec<Pt> = Vec::with_capacity(points.len());
    for &p in points {
        if v.last() != Some(&p) {
            v.push(p);
        }
    }
    while v.len() > 1 && v.first() == v.last() {
        v.pop();
    }
    if v.len() < 3 {
        return None;
    }
    if signed_area(&v) < 0.0 {
        v.reverse();
    }
    Some(v)
}

fn signed_area(v: &[Pt]) -> f64 {
    let n = v.len();
    (0..n)
        .map(|i| v[i][0] * v[(i + 1) % n][1] - v[(i + 1) % n][0] * v[i][1])
        .sum::<f64>()
        / 2.0
}

/// Whether two closed segments intersect (including touching).
fn segments_touch(a: Pt, b: Pt, c: Pt, d: Pt) -> bool {
    let (d1, d2, d3, d4) = (
        cross(c, d, a),
        cross(c, d, b),
        cross(a, b, c),
        cross(a, b, d),
    );
    if ((d1 > 0.0 && d2 < 0.0) || (d1 < 0.0 && d2 > 0.0))
        && ((d3 > 0.0 && d4 < 0.0) || (d3 < 0.0 && d4 > 0.0))
    {
        return true;
    }
    let on = |p: Pt, q: Pt, r: Pt| {
        cross(p, q, r) == 0.0
            && r[0] >= p[0].min(q[0])
            && r[0] <= p[0].max(q[0])
            && r[1] >= p[1].min(q[1])
            && r[1] <= p[1].max(q[1])
    };
    on(c, d, a) || on(c, d, b) || on(a, b, c) || on(a, b, d)
}

/// True when no two non-adjacent edges meet (a simple polygon).
fn is_simple(v: &[Pt]) -> bool {
    let n = v.len();
    for i in 0..n {
        for j in i + 1..n {
            let adjacent = j == i + 1 || (i == 0 && j == n - 1);
            if adjacent {
                // Adjacent edges may only share their common vertex: reject a
                // fold-back (collinear, opposite directions).
                let (a, b, c) = if j == i + 1 {
                    (v[i], v[j], v[(j + 1) % n])
                } else {
                    (v[j], v[0], v[1])
                };
                if cross(a, b, c) == 0.0
                    && (b[0] - a[0]) * (c[0] - b[0]) + (b[1] - a[1]) * (c[1] - b[1]) < 0.0
                {
                    return false;
                }
                continue;
            }
            if segments_touch(v[i], v[(i + 1) % n], v[j], v[(j + 1) % n]) {
                return false;
            }
        }
    }
    true
}

enum Where {
    Inside,
    Outside,
    /// On the boundary, on an edge with the given direction.
    OnEdge(Pt),
}

fn locate(p: Pt, poly: &[Pt], tol: f64) -> Where {
    let n = poly.len();
    let mut inside = false;
    for i in 0..n {
        let (c, d) = (poly[i], poly[(i + 1) % n]);
        let len = ((d[0] - c[0]).powi(2) + (d[1] - c[1]).powi(2)).sqrt();
        let dist = cross(c, d, p).abs() / len;
        if dist <= tol {
            let t = ((p[0] - c[0]) * (d[0] - c[0]) + (p[1] - c[1]) * (d[1] - c[1])) / (len * len);
            if (0.0..=1.0).contains(&t) {
                return Where::OnEdge([d[0] - c[0], d[1] - c[1]]);
            }
        }
        if (c[1] > p[1]) != (d[1] > p[1]) {
            let x = c[0] + (p[1] - c[1]) * (d[0] - c[0]) / (d[1] - c[1]);
            if p[0] < x {
                inside = !inside;
            }
        }
    }
    if inside {
        Where::Inside
    } else {
        Where::Outside
    }
}

/// Σ ∮ x dy over the pieces of ∂p inside q (and, when `shared`, on ∂q in the same direction).
fn boundary_part(p: &[Pt], q: &[Pt], shared: bool, tol: f64) -> f64 {
    let (n, m) = (p.len(), q.len());
    let mut total = 0.0;
    let mut ts: Vec<f64> = Vec::new();
    for i in 0..n {
        let (a, b) = (p[i], p[(i + 1) % n]);
        let ab = [b[0] - a[0], b[1] - a[1]];
        let ab2 = ab[0] * ab[0] + ab[1] * ab[1];
        ts.clear();
        ts.extend([0.0, 1.0]);
        for j in 0..m {
            let (c, d) = (q[j], q[(j + 1) % m]);
            let cd = [d[0] - c[0], d[1] - c[1]];
            let den = ab[0] * cd[1] - ab[1] * cd[0];
            let ac = [c[0] - a[0], c[1] - a[1]];
            let collinear = cross(a, b, c).abs() <= tol * ab2.sqrt()
                && cross(a, b, d).abs() <= tol * ab2.sqrt();
            if den == 0.0 || collinear {
                // Parallel: when collinear, split at the other edge's endpoints.
                if collinear {
                    for e in [c, d] {
                        let t = ((e[0] - a[0]) * ab[0] + (e[1] - a[1]) * ab[1]) / ab2;
                        if t > 0.0 && t < 1.0 {
                            ts.push(t);
                        }
                    }
                }
                continue;
            }
            let t = (ac[0] * cd[1] - ac[1] * cd[0]) / den;
            let u = (ac[0] * ab[1] - ac[1] * ab[0]) / den;
            if t > 0.0 && t < 1.0 && (-1e-12..=1.0 + 1e-12).contains(&u) {
                ts.push(t);
            }
        }
        ts.sort_by(f64::total_cmp);
        ts.dedup();
        for w in ts.windows(2) {
            let (t0, t1) = (w[0], w[1]);
            if t1 <= t0 {
                continue;
            }
            let p0 = [a[0] + t0 * ab[0], a[1] + t0 * ab[1]];
            let p1 = if t1 == 1.0 {
                b
            } else {
                [a[0] + t1 * ab[0], a[1] + t1 * ab[1]]
            };
            let p0 = if t0 == 0.0 { a } else { p0 };
            let mid = [(p0[0] + p1[0]) / 2.0, (p0[1] + p1[1]) / 2.0];
            let keep = match locate(mid, q, tol) {
                Where::Inside => true,
                Where::Outside => false,
                Where::OnEdge(dir) => shared && dir[0] * ab[0] + dir[1] * ab[1] > 0.0,
            };
            if keep {
                total += (p0[0] * p1[1] - p1[0] * p0[1]) / 2.0;
            }
        }
    }
    total
}

/// Areas (A, B, A ∩ B) of two simple polygons given as vertex lists (either
/// orientation, closed or not). `None` when either is not a simple polygon with
/// at least three distinct vertices, or has a non-finite coordinate.
pub fn areas(a: &[Pt], b: &[Pt]) -> Option<(f64, f64, f64)> {
    let (p, q) = (normalise(a)?, normalise(b)?);
    if !is_simple(&p) || !is_simple(&q) {
        return None;
    }
    // Distance tolerance for "on the other boundary": relative to the extent.
    let extent = p
        .iter()
        .chain(&q)
        .flat_map(|v| [v[0].abs(), v[1].abs()])
        .fold(1.0f64, f64::max);
    let tol = extent * 1e-12;
    let inter = boundary_part(&p, &q, true, tol) + boundary_part(&q, &p, false, tol);
    let (sa, sb) = (signed_area(&p), signed_area(&q));
    Some((sa, sb, inter.clamp(0.0, sa.min(sb))))
}
