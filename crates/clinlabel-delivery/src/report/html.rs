//! The report as one self-contained HTML file with inline SVG charts.

use super::chart::{self, Anchor, Drawing, Op};
use super::{Report, fmt2, pct};
use std::fmt::Write;

pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A drawing as an SVG element.
pub fn svg(d: &Drawing) -> String {
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {} {}\" width=\"{}\" height=\"{}\" role=\"img\" aria-label=\"{}\" font-family=\"Helvetica, Arial, sans-serif\">",
        d.width,
        d.height,
        d.width,
        d.height,
        esc(&d.title)
    );
    for op in &d.ops {
        match op {
            Op::Rect { x, y, w, h, fill } => {
                let _ = write!(s, "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" fill=\"{}\"/>", fill.hex());
            }
            Op::Line { x1, y1, x2, y2, stroke, width } => {
                let _ = write!(s, "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" stroke=\"{}\" stroke-width=\"{width}\"/>", stroke.hex());
            }
            Op::Polyline { points, stroke, width } => {
                let pts: Vec<String> = points.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
                let _ = write!(s, "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{width}\"/>", pts.join(" "), stroke.hex());
            }
            Op::Dot { x, y, r, fill } => {
                let _ = write!(s, "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"{r}\" fill=\"{}\"/>", fill.hex());
            }
            Op::Text { x, y, size, anchor, bold, text } => {
                let a = match anchor {
                    Anchor::Start => "start",
                    Anchor::Middle => "middle",
                    Anchor::End => "end",
                };
                let _ = write!(s, "<text x=\"{x:.1}\" y=\"{y:.1}\" font-size=\"{size}\" text-anchor=\"{a}\"{} fill=\"#222b36\">{}</text>", if *bold { " font-weight=\"bold\"" } else { "" }, esc(text));
            }
        }
    }
    s.push_str("</svg>");
    s
}

fn table(out: &mut String, head: &[&str], rows: Vec<Vec<String>>) {
    out.push_str("<table><thead><tr>");
    for h in head {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    if rows.is_empty() {
        let _ = write!(out, "<tr><td colspan=\"{}\">None.</td></tr>", head.len());
    }
    for r in rows {
        out.push_str("<tr>");
        for c in r {
            let _ = write!(out, "<td>{}</td>", esc(&c));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
}

/// The section tables shared by both renderings: (title, header, rows).
pub fn sections(r: &Report) -> Vec<(String, Vec<String>, Vec<Vec<String>>)> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    vec![
        ("Scope and timeline".into(), s(&["", "Planned", "Actual"]), r.scope.iter().map(|p| vec![p.what.clone(), p.planned.clone(), p.actual.clone()]).collect()),
        (
            "Counts per label".into(),
            s(&["Question", "Label", "Annotations", "Share"]),
            r.label_counts.iter().map(|c| vec![c.question_id.clone(), c.label.clone(), c.count.to_string(), pct(c.share)]).collect(),
        ),
        (
            "Agreement".into(),
            s(&["Question / label", "Items", "Alpha", "95% CI", "Percent agreement"]),
            r.agreement
                .iter()
                .map(|a| {
                    let ci = match (a.ci_lower, a.ci_upper) {
                        (Some(l), Some(u)) => format!("{l:.2} to {u:.2}"),
                        _ => a.undefined.clone().unwrap_or_else(|| "n/a".into()),
                    };
                    vec![if a.scope == "label" { format!("  {}", a.name) } else { a.name.clone() }, a.units.to_string(), fmt2(a.alpha), ci, a.percent_agreement.map(pct).unwrap_or_else(|| "n/a".into())]
                })
                .collect(),
        ),
        (
            "Gold accuracy per tasker (pseudonymous)".into(),
            s(&["Tasker", "Gold tasks", "Mean accuracy", "Lowest"]),
            r.gold_taskers.iter().map(|g| vec![g.tasker.clone(), g.gold_tasks.to_string(), pct(g.mean), pct(g.min)]).collect(),
        ),
        ("Gold accuracy distribution".into(), s(&["Mean accuracy", "Taskers"]), r.gold_histogram.iter().map(|(b, n)| vec![b.clone(), n.to_string()]).collect()),
        (
            "Outcomes per QA tier".into(),
            s(&["Tier", "Reviews", "Accepted", "Rejected", "Rejection rate"]),
            r.tiers
                .iter()
                .map(|t| {
                    let n = t.accepted + t.rejected;
                    vec![format!("{} ({})", t.tier, t.name), n.to_string(), t.accepted.to_string(), t.rejected.to_string(), if n > 0 { pct(t.rejected as f64 / n as f64) } else { "n/a".into() }]
                })
                .collect(),
        ),
        ("Rework".into(), s(&["Rounds of rework", "Annotations"]), {
            let mut rows: Vec<Vec<String>> = r.rework.rounds.iter().map(|(k, n)| vec![k.to_string(), n.to_string()]).collect();
            rows.push(vec!["Rework rate".into(), format!("{} ({} of {})", pct(r.rework.rate), r.rework.reworked, r.rework.annotations)]);
            rows.push(vec!["Batches returned by QA".into(), r.rework.batches_returned.to_string()]);
            rows
        }),
        ("Specification and guideline versions".into(), s(&["", "Version"]), r.versions.iter().map(|(k, v)| vec![k.clone(), v.clone()]).collect()),
    ]
}

const STYLE: &str = "body{font-family:Helvetica,Arial,sans-serif;color:#222b36;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.4}\
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d5dbe3;padding-bottom:.2rem}\
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #e5e9ef}\
th{background:#f3f5f8}td:not(:first-child){font-variant-numeric:tabular-nums}.meta{color:#5b6673}figure{margin:1rem 0}figcaption{font-weight:bold;margin-bottom:.3rem}\
svg{max-width:100%;height:auto}";

/// The whole report page.
pub fn render(r: &Report) -> String {
    let mut o = String::with_capacity(32 << 10);
    let _ = write!(
        o,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Completion report: {}</title><style>{STYLE}</style></head><body>",
        esc(&r.project_name)
    );
    let _ = write!(
        o,
        "<h1>Completion report: {}</h1><p class=\"meta\">Client {} · {} · track {} · delivery version {} · built {} · {} items, {} accepted annotations</p>",
        esc(&r.project_name),
        esc(&r.client),
        esc(&r.modality),
        esc(&r.track),
        r.delivery_version,
        crate::time::date_time(r.built_at),
        r.items,
        r.annotations
    );
    let charts = chart::all(r);
    for (i, (title, head, rows)) in sections(r).into_iter().enumerate() {
        let _ = write!(o, "<h2>{}</h2>", esc(&title));
        let head: Vec<&str> = head.iter().map(String::as_str).collect();
        table(&mut o, &head, rows);
        if title == "Agreement" {
            let _ = write!(o, "<p class=\"meta\">{}</p>", esc(&r.agreement_method));
            let _ = write!(o, "<figure><figcaption>{}</figcaption>{}</figure>", esc(&charts[0].title), svg(&charts[0]));
        }
        if title.starts_with("Gold accuracy distribution") {
            let _ = write!(o, "<figure><figcaption>{}</figcaption>{}</figure>", esc(&charts[1].title), svg(&charts[1]));
        }
        if i == 0 {
            let _ = write!(o, "<figure><figcaption>{}</figcaption>{}</figure>", esc(&charts[2].title), svg(&charts[2]));
        }
    }
    o.push_str("<p class=\"meta\">Generated by clinlabel. Taskers appear under stable pseudonyms. The files of this delivery are listed with their SHA-256 in manifest.json, signed by the service key.</p></body></html>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_holds_every_section_and_three_charts_and_escapes() {
        let mut r = crate::report::tests::sample_report();
        r.project_name = "Notes <script>".into();
        let h = render(&r);
        for s in ["Scope and timeline", "Counts per label", "Agreement", "Gold accuracy per tasker", "Outcomes per QA tier", "Rework", "Specification and guideline versions"] {
            assert!(h.contains(&format!("<h2>{s}")), "{s}");
        }
        assert_eq!(h.matches("<svg").count(), 3);
        assert!(h.contains("Notes &lt;script&gt;") && !h.contains("<script>"));
        assert!(h.contains("Annotator-aaaaaa"));
    }
}
