//! Charts as backend-neutral vector drawings: rectangles, lines, polylines
//! and text in a box with the origin at the top left. SVG and PDF render the
//! same drawing.

use super::{DayValue, Report};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    pub fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }
    pub fn unit(self) -> (f32, f32, f32) {
        (self.0 as f32 / 255.0, self.1 as f32 / 255.0, self.2 as f32 / 255.0)
    }
}

pub const INK: Rgb = Rgb(0x22, 0x2b, 0x36);
pub const GRID: Rgb = Rgb(0xd5, 0xdb, 0xe3);
pub const BAR: Rgb = Rgb(0x2f, 0x6f, 0xb3);
pub const ACCENT: Rgb = Rgb(0xc2, 0x41, 0x0c);

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Anchor {
    Start,
    Middle,
    End,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Rect { x: f32, y: f32, w: f32, h: f32, fill: Rgb },
    Line { x1: f32, y1: f32, x2: f32, y2: f32, stroke: Rgb, width: f32 },
    Polyline { points: Vec<(f32, f32)>, stroke: Rgb, width: f32 },
    Dot { x: f32, y: f32, r: f32, fill: Rgb },
    Text { x: f32, y: f32, size: f32, anchor: Anchor, bold: bool, text: String },
}

/// A chart: a title, a size in points, and what to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct Drawing {
    pub title: String,
    pub width: f32,
    pub height: f32,
    pub ops: Vec<Op>,
}

const W: f32 = 500.0;
const H: f32 = 190.0;
const LEFT: f32 = 44.0;
const RIGHT: f32 = 10.0;
const TOP: f32 = 12.0;
const BOTTOM: f32 = 40.0;

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max { s.to_string() } else { format!("{}…", s.chars().take(max - 1).collect::<String>()) }
}

/// Axes with horizontal grid lines between `lo` and `hi`.
fn axes(ops: &mut Vec<Op>, lo: f64, hi: f64, ticks: usize, fmt: &dyn Fn(f64) -> String) -> impl Fn(f64) -> f32 + use<> {
    let plot_h = H - TOP - BOTTOM;
    let y_of = move |v: f64| TOP + plot_h * (1.0 - ((v - lo) / (hi - lo)).clamp(0.0, 1.0) as f32);
    for i in 0..=ticks {
        let v = lo + (hi - lo) * i as f64 / ticks as f64;
        let y = y_of(v);
        ops.push(Op::Line { x1: LEFT, y1: y, x2: W - RIGHT, y2: y, stroke: GRID, width: 0.5 });
        ops.push(Op::Text { x: LEFT - 4.0, y: y + 3.0, size: 7.0, anchor: Anchor::End, bold: false, text: fmt(v) });
    }
    ops.push(Op::Line { x1: LEFT, y1: TOP, x2: LEFT, y2: H - BOTTOM, stroke: INK, width: 0.8 });
    y_of
}

/// Agreement per label: α as a bar, its 95 % interval as a whisker.
pub fn agreement_per_label(r: &Report) -> Drawing {
    let rows: Vec<_> = r.agreement.iter().filter(|a| a.scope == "label").collect();
    let mut ops = Vec::new();
    let lo = rows.iter().filter_map(|a| a.ci_lower.or(a.alpha)).fold(0.0f64, f64::min).max(-1.0);
    let y_of = axes(&mut ops, lo, 1.0, 4, &|v| format!("{v:.2}"));
    let n = rows.len().max(1) as f32;
    let slot = (W - LEFT - RIGHT) / n;
    for (i, a) in rows.iter().enumerate() {
        let cx = LEFT + slot * (i as f32 + 0.5);
        let bw = (slot * 0.55).min(40.0);
        if let Some(v) = a.alpha {
            let (y0, y1) = (y_of(0.0f64.max(lo)), y_of(v));
            ops.push(Op::Rect { x: cx - bw / 2.0, y: y0.min(y1), w: bw, h: (y0 - y1).abs().max(0.5), fill: BAR });
        }
        if let (Some(l), Some(u)) = (a.ci_lower, a.ci_upper) {
            ops.push(Op::Line { x1: cx, y1: y_of(l), x2: cx, y2: y_of(u), stroke: ACCENT, width: 1.2 });
            for y in [y_of(l), y_of(u)] {
                ops.push(Op::Line { x1: cx - 4.0, y1: y, x2: cx + 4.0, y2: y, stroke: ACCENT, width: 1.2 });
            }
        }
        let label = a.label_id.clone().unwrap_or_default();
        ops.push(Op::Text { x: cx, y: H - BOTTOM + 11.0, size: 7.0, anchor: Anchor::Middle, bold: false, text: shorten(&label, (slot / 4.0).max(4.0) as usize) });
        ops.push(Op::Text { x: cx, y: H - BOTTOM + 20.0, size: 6.5, anchor: Anchor::Middle, bold: false, text: shorten(&a.question_id, (slot / 4.0).max(4.0) as usize) });
    }
    ops.push(Op::Text { x: LEFT, y: H - 4.0, size: 7.0, anchor: Anchor::Start, bold: false, text: "Krippendorff's alpha per label (bar) with its 95% bootstrap interval (whisker)".into() });
    Drawing { title: "Agreement per label".into(), width: W, height: H, ops }
}

fn day_axis(ops: &mut Vec<Op>, days: &[DayValue]) -> impl Fn(usize) -> f32 + use<> {
    let n = days.len().max(1);
    let slot = (W - LEFT - RIGHT) / n as f32;
    let every = (n / 8).max(1);
    for (i, d) in days.iter().enumerate() {
        if i % every == 0 || i + 1 == n {
            let (_, m, dd, ..) = crate::time::civil(d.day);
            ops.push(Op::Text { x: LEFT + slot * (i as f32 + 0.5), y: H - BOTTOM + 11.0, size: 7.0, anchor: Anchor::Middle, bold: false, text: format!("{m:02}-{dd:02}") });
        }
    }
    move |i: usize| LEFT + slot * (i as f32 + 0.5)
}

/// Mean gold accuracy per day, as a line with dots.
pub fn gold_over_time(r: &Report) -> Drawing {
    let mut ops = Vec::new();
    let y_of = axes(&mut ops, 0.0, 1.0, 4, &|v| format!("{v:.2}"));
    let x_of = day_axis(&mut ops, &r.gold_over_time);
    let points: Vec<(f32, f32)> = r.gold_over_time.iter().enumerate().map(|(i, d)| (x_of(i), y_of(d.value))).collect();
    if points.len() > 1 {
        ops.push(Op::Polyline { points: points.clone(), stroke: BAR, width: 1.5 });
    }
    for (x, y) in points {
        ops.push(Op::Dot { x, y, r: 2.2, fill: BAR });
    }
    if r.gold_over_time.is_empty() {
        ops.push(Op::Text { x: W / 2.0, y: H / 2.0, size: 9.0, anchor: Anchor::Middle, bold: false, text: "No gold tasks were scored.".into() });
    }
    ops.push(Op::Text { x: LEFT, y: H - 4.0, size: 7.0, anchor: Anchor::Start, bold: false, text: "Mean gold accuracy of all taskers per day (UTC)".into() });
    Drawing { title: "Gold accuracy over time".into(), width: W, height: H, ops }
}

/// Accepted annotations per day, as bars.
pub fn throughput(r: &Report) -> Drawing {
    let mut ops = Vec::new();
    let max = r.throughput.iter().map(|d| d.value).fold(1.0f64, f64::max);
    let top = nice_ceiling(max);
    let y_of = axes(&mut ops, 0.0, top, 4, &|v| format!("{v:.0}"));
    let x_of = day_axis(&mut ops, &r.throughput);
    let slot = (W - LEFT - RIGHT) / r.throughput.len().max(1) as f32;
    let bw = (slot * 0.7).min(36.0);
    for (i, d) in r.throughput.iter().enumerate() {
        let (y0, y1) = (y_of(0.0), y_of(d.value));
        ops.push(Op::Rect { x: x_of(i) - bw / 2.0, y: y1, w: bw, h: (y0 - y1).max(0.5), fill: BAR });
    }
    ops.push(Op::Text { x: LEFT, y: H - 4.0, size: 7.0, anchor: Anchor::Start, bold: false, text: "Accepted annotations per day of their last submission (UTC)".into() });
    Drawing { title: "Throughput per day".into(), width: W, height: H, ops }
}

fn nice_ceiling(v: f64) -> f64 {
    let p = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if v <= m * p {
            return m * p;
        }
    }
    10.0 * p
}

/// The three charts, in report order.
pub fn all(r: &Report) -> Vec<Drawing> {
    vec![agreement_per_label(r), gold_over_time(r), throughput(r)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_are_round() {
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(180.0), 200.0);
        assert_eq!(nice_ceiling(1.0), 1.0);
        assert_eq!(nice_ceiling(240_000.0), 250_000.0);
    }

    #[test]
    fn a_bar_per_label_and_a_point_per_day() {
        let r = crate::report::tests::sample_report();
        let a = agreement_per_label(&r);
        assert_eq!(a.ops.iter().filter(|o| matches!(o, Op::Rect { .. })).count(), 2);
        let g = gold_over_time(&r);
        assert_eq!(g.ops.iter().filter(|o| matches!(o, Op::Dot { .. })).count(), 2);
    }
}
