//! Geometry agreement against hand-computed values.
use clinlabel_agreement::Coefficient;
use clinlabel_agreement::geometry::*;

fn check(c: Coefficient, expected: f64, what: &str) {
    let v = c
        .value()
        .unwrap_or_else(|| panic!("{what}: undefined ({c})"));
    assert!(
        (v - expected).abs() < 1e-9,
        "{what}: got {v}, expected {expected}"
    );
}

fn b2(x0: f64, y0: f64, x1: f64, y1: f64) -> Box2 {
    Box2 {
        x_min: x0,
        y_min: y0,
        x_max: x1,
        y_max: y1,
        label: None,
    }
}

#[test]
fn box_iou() {
    check(
        box_iou_2d(&b2(0., 0., 2., 2.), &b2(1., 1., 3., 3.)),
        1.0 / 7.0,
        "2d",
    );
    check(
        box_iou_2d(&b2(0., 0., 2., 2.), &b2(5., 5., 6., 6.)),
        0.0,
        "2d disjoint",
    );
    assert!(!box_iou_2d(&b2(0., 0., 0., 0.), &b2(1., 1., 1., 1.)).is_defined());
    let c = |o: f64| Box3 {
        x_min: o,
        y_min: o,
        z_min: o,
        x_max: o + 2.,
        y_max: o + 2.,
        z_max: o + 2.,
        label: None,
    };
    check(box_iou_3d(&c(0.), &c(1.)), 1.0 / 15.0, "3d");
}

#[test]
fn polygon_iou_exact() {
    let sq = |x: f64, y: f64, s: f64| vec![[x, y], [x + s, y], [x + s, y + s], [x, y + s]];
    check(
        polygon_iou(&sq(0., 0., 2.), &sq(1., 1., 2.)),
        1.0 / 7.0,
        "squares",
    );
    check(
        polygon_iou(&sq(0., 0., 2.), &[[0., 0.], [2., 0.], [0., 2.]]),
        0.5,
        "triangle in square",
    );
    // Non-convex L of area 3 inside the 2×2 square: 3/4; touching the missing corner only: 0.
    let l = vec![[0., 0.], [2., 0.], [2., 1.], [1., 1.], [1., 2.], [0., 2.]];
    check(polygon_iou(&l, &sq(0., 0., 2.)), 0.75, "L in square");
    check(polygon_iou(&l, &sq(1., 1., 1.)), 0.0, "L and its notch");
    check(polygon_iou(&l, &l), 1.0, "identical");
    // Closed ring and clockwise orientation give the same answer.
    let mut cw = sq(1., 1., 2.);
    cw.reverse();
    cw.push(cw[0]);
    check(
        polygon_iou(&sq(0., 0., 2.), &cw),
        1.0 / 7.0,
        "clockwise closed",
    );
    // Sharing an edge in the same direction: [0,2]² and [0,2]×[0,1] → 2/4.
    check(
        polygon_iou(&sq(0., 0., 2.), &[[0., 0.], [2., 0.], [2., 1.], [0., 1.]]),
        0.5,
        "shared edges",
    );
    // Side by side, sharing one edge in opposite directions: no overlap.
    check(
        polygon_iou(&sq(0., 0., 2.), &sq(2., 0., 2.)),
        0.0,
        "adjacent",
    );
    // Touching at one corner only.
    check(polygon_iou(&sq(0., 0., 1.), &sq(1., 1., 1.)), 0.0, "corner");
    // A self-intersecting bow-tie and a two-point ring are invalid.
    let bowtie = [[0., 0.], [2., 2.], [2., 0.], [0., 2.]];
    assert_eq!(
        polygon_iou(&bowtie, &sq(0., 0., 2.)).reason(),
        Some(clinlabel_agreement::Reason::InvalidGeometry)
    );
    assert_eq!(
        polygon_iou(&[[0., 0.], [1., 1.]], &sq(0., 0., 2.)).reason(),
        Some(clinlabel_agreement::Reason::InvalidGeometry)
    );
}

fn mask(w: usize, h: usize, d: usize, on: &[(usize, usize, usize)]) -> Mask {
    let mut data = vec![false; w * h * d];
    for &(x, y, z) in on {
        data[(z * h + y) * w + x] = true;
    }
    Mask::new(w, h, d, data)
}

#[test]
fn mask_dice_iou() {
    let a = mask(4, 4, 1, &[(0, 0, 0), (1, 0, 0), (0, 1, 0), (1, 1, 0)]);
    let b = mask(4, 4, 1, &[(1, 0, 0), (2, 0, 0), (1, 1, 0), (2, 1, 0)]);
    let o = mask_overlap(&a, &b);
    check(o.dice, 0.5, "dice");
    check(o.iou, 1.0 / 3.0, "iou");
    let e = mask(4, 4, 1, &[]);
    assert!(!mask_overlap(&e, &e).dice.is_defined());
}

#[test]
fn hausdorff_hand_computed() {
    // A row of 10: A = x 0..3, boundary {0, 2}; B = x 5..8, boundary {5, 7}.
    // Distances A→B: 5, 3; B→A: 3, 5. HD = 5, pooled 95th percentile = 5,
    // ASSD = pooled mean = 4.
    let a = mask(10, 1, 1, &[(0, 0, 0), (1, 0, 0), (2, 0, 0)]);
    let b = mask(10, 1, 1, &[(5, 0, 0), (6, 0, 0), (7, 0, 0)]);
    let s = surface_distance(&a, &b, None);
    check(s.hausdorff, 5.0, "hd");
    check(s.hausdorff95, 5.0, "hd95");
    check(s.assd, 4.0, "assd");
    assert_eq!(s.unit, "voxel");
    check(
        surface_distance(&a, &b, Some([0.5, 1.0, 1.0])).hausdorff,
        2.5,
        "hd mm",
    );
    // Two single pixels (0,0) and (3,4): 5 voxels; with spacing x=2, y=1: √(36+16).
    let p = mask(5, 5, 1, &[(0, 0, 0)]);
    let q = mask(5, 5, 1, &[(3, 4, 0)]);
    check(surface_distance(&p, &q, None).hausdorff, 5.0, "pixels");
    let mm = surface_distance(&p, &q, Some([2.0, 1.0, 1.0]));
    check(mm.hausdorff, 52f64.sqrt(), "pixels mm");
    assert_eq!(mm.unit, "mm");
    // 3D: voxels (0,0,0) and (1,2,2) with slice spacing 3: √(1 + 4 + 36).
    let u = mask(3, 3, 3, &[(0, 0, 0)]);
    let v = mask(3, 3, 3, &[(1, 2, 2)]);
    check(
        surface_distance(&u, &v, Some([1.0, 1.0, 3.0])).hausdorff,
        41f64.sqrt(),
        "3d",
    );
    assert!(
        !surface_distance(&u, &mask(3, 3, 3, &[]), None)
            .hausdorff
            .is_defined()
    );
}

#[test]
fn hausdorff_equals_brute_force_on_random_masks() {
    let mut rng = clinlabel_agreement::rng::Rng::new(17);
    for case in 0..40 {
        let (w, h, d) = (
            3 + rng.below(8) as usize,
            3 + rng.below(8) as usize,
            if case % 2 == 0 {
                1
            } else {
                1 + rng.below(4) as usize
            },
        );
        let sp = [
            0.5 + rng.unit_f64(),
            0.5 + rng.unit_f64(),
            0.5 + 3.0 * rng.unit_f64(),
        ];
        let rand_mask = |rng: &mut clinlabel_agreement::rng::Rng| {
            Mask::new(w, h, d, (0..w * h * d).map(|_| rng.below(3) == 0).collect())
        };
        let (a, b) = (rand_mask(&mut rng), rand_mask(&mut rng));
        // Brute force: boundary as defined (face neighbours, outside = background
        // except along size-1 axes), then all pairs.
        let bnd = |m: &Mask| -> Vec<[usize; 3]> {
            let mut out = vec![];
            for z in 0..d {
                for y in 0..h {
                    for x in 0..w {
                        let on = |x: isize, y: isize, z: isize| {
                            x >= 0
                                && y >= 0
                                && z >= 0
                                && (x as usize) < w
                                && (y as usize) < h
                                && (z as usize) < d
                                && m.data[((z as usize) * h + y as usize) * w + x as usize]
                        };
                        let (xi, yi, zi) = (x as isize, y as isize, z as isize);
                        if !on(xi, yi, zi) {
                            continue;
                        }
                        let mut nb = vec![
                            (xi - 1, yi, zi),
                            (xi + 1, yi, zi),
                            (xi, yi - 1, zi),
                            (xi, yi + 1, zi),
                        ];
                        if d > 1 {
                            nb.extend([(xi, yi, zi - 1), (xi, yi, zi + 1)]);
                        }
                        if nb.iter().any(|&(p, q, r)| !on(p, q, r)) {
                            out.push([x, y, z]);
                        }
                    }
                }
            }
            out
        };
        let (ba, bb) = (bnd(&a), bnd(&b));
        let dist = |p: &[usize; 3], q: &[usize; 3]| {
            (0..3)
                .map(|i| ((p[i] as f64 - q[i] as f64) * sp[i]).powi(2))
                .sum::<f64>()
                .sqrt()
        };
        let s = surface_distance(&a, &b, Some(sp));
        if ba.is_empty() || bb.is_empty() {
            assert!(!s.hausdorff.is_defined());
            continue;
        }
        let directed = |x: &[[usize; 3]], y: &[[usize; 3]]| -> Vec<f64> {
            x.iter()
                .map(|p| y.iter().map(|q| dist(p, q)).fold(f64::INFINITY, f64::min))
                .collect()
        };
        let (ab, bab) = (directed(&ba, &bb), directed(&bb, &ba));
        let pooled: Vec<f64> = ab.iter().chain(&bab).cloned().collect();
        check(
            s.assd,
            pooled.iter().sum::<f64>() / pooled.len() as f64,
            "assd vs brute force",
        );
        let hd = ab.iter().chain(&bab).cloned().fold(0.0, f64::max);
        check(s.hausdorff, hd, "hd vs brute force");
    }
}

#[test]
fn keypoints() {
    let kp = |x: f64, y: f64| Keypoint {
        x,
        y,
        visible: true,
    };
    let a = [
        kp(0., 0.),
        kp(3., 4.),
        Keypoint {
            x: 9.,
            y: 9.,
            visible: false,
        },
    ];
    let b = [kp(0., 0.), kp(0., 0.), kp(0., 0.)];
    check(keypoint_mean_distance(&a, &b, None), 2.5, "mean distance");
    check(
        keypoint_mean_distance(&a, &b, Some([2.0, 1.0])),
        (0.0 + (36f64 + 16.0).sqrt()) / 2.0,
        "mm",
    );
    // One visible keypoint, d² = 2, area 1, σ = 0.5 (k = 1): exp(−2/1/1/2) = e⁻¹.
    check(
        oks(&[kp(0., 0.)], &[kp(1., 1.)], 1.0, &[0.5]),
        (-1f64).exp(),
        "oks",
    );
}

#[test]
fn instances_matched_optimally_by_iou() {
    // Greedy on the largest IoU takes (0,0) and leaves row 1 unmatched.
    let iou = [0.9, 0.8, 0.85, 0.0];
    let m = match_by_iou(2, 2, &iou, 0.5);
    assert_eq!(
        m.pairs.iter().map(|p| (p.0, p.1)).collect::<Vec<_>>(),
        vec![(0, 1), (1, 0)]
    );
    check(m.mean_iou, 0.825, "mean iou");
    check(m.prf.f1, 1.0, "f1");
    let a = [b2(0., 0., 10., 10.), b2(20., 20., 30., 30.)];
    let b = [b2(1., 0., 11., 10.), b2(100., 100., 110., 110.)];
    let m = match_boxes_2d(&a, &b, 0.5);
    assert_eq!(m.pairs.len(), 1);
    check(m.mean_iou, 90.0 / 110.0, "box iou");
    check(m.prf.precision, 0.5, "P");
    check(m.prf.recall, 0.5, "R");
    let mut c = a.clone();
    c[0].label = Some("nodule".into());
    let mut d = b.clone();
    d[0].label = Some("mass".into());
    assert!(
        match_boxes_2d(&c, &d, 0.5).pairs.is_empty(),
        "labels must agree"
    );
}
