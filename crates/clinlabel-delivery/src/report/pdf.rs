//! The report as PDF, written object by object with `pdf-writer`: A4 pages,
//! the standard Helvetica and Helvetica-Bold fonts in WinAnsiEncoding (no
//! font embedded; every PDF reader has them, and `pdftotext` extracts the
//! text), tables laid out with the fonts' metrics, and the charts drawn as
//! vector paths.

use super::chart::{self, Anchor, Drawing, Op, Rgb};
use super::{Report, html::sections};
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

const PAGE_W: f32 = 595.0;
const PAGE_H: f32 = 842.0;
const MARGIN: f32 = 50.0;
const BODY_W: f32 = PAGE_W - 2.0 * MARGIN;
const REGULAR: Name<'static> = Name(b"F1");
const BOLD: Name<'static> = Name(b"F2");

/// Helvetica advance widths (1/1000 em) of ASCII 32–126, from the AFM.
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667, 611, 778,
    722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, 556,
    556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
];
/// Helvetica-Bold advance widths of ASCII 32–126.
const HELVETICA_BOLD: [u16; 95] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611, 975, 722, 722, 722, 722, 667, 611, 778,
    722, 278, 556, 722, 611, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556, 333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611, 611,
    611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584,
];

/// Text in WinAnsiEncoding; characters it lacks become `?`.
pub fn winansi(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| match c {
            ' '..='~' => c as u8,
            '\u{a0}'..='\u{ff}' => c as u32 as u8,
            '€' => 0x80,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            '…' => 0x85,
            _ => b'?',
        })
        .collect()
}

/// Width of `s` in points.
pub fn width(s: &str, size: f32, bold: bool) -> f32 {
    let table = if bold { &HELVETICA_BOLD } else { &HELVETICA };
    winansi(s).iter().map(|&b| if (32..=126).contains(&b) { table[(b - 32) as usize] as f32 } else { 556.0 }).sum::<f32>() * size / 1000.0
}

fn fit(s: &str, size: f32, bold: bool, max: f32) -> String {
    if width(s, size, bold) <= max {
        return s.to_string();
    }
    let mut out: String = s.to_string();
    while !out.is_empty() && width(&format!("{out}…"), size, bold) > max {
        out.pop();
    }
    format!("{out}…")
}

fn wrap(s: &str, size: f32, max: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for w in s.split_whitespace() {
        let cand = if cur.is_empty() { w.to_string() } else { format!("{cur} {w}") };
        if width(&cand, size, false) > max && !cur.is_empty() {
            lines.push(std::mem::replace(&mut cur, w.to_string()));
        } else {
            cur = cand;
        }
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

struct Doc {
    pages: Vec<Content>,
    y: f32,
}

impl Doc {
    fn new() -> Doc {
        Doc { pages: vec![Content::new()], y: PAGE_H - MARGIN }
    }
    fn page(&mut self) -> &mut Content {
        self.pages.last_mut().expect("a page")
    }
    fn need(&mut self, h: f32) {
        if self.y - h < MARGIN {
            self.pages.push(Content::new());
            self.y = PAGE_H - MARGIN;
        }
    }
    fn text(&mut self, x: f32, y: f32, size: f32, bold: bool, color: Rgb, s: &str) {
        let (r, g, b) = color.unit();
        let bytes = winansi(s);
        self.page().set_fill_rgb(r, g, b).begin_text().set_font(if bold { BOLD } else { REGULAR }, size).next_line(x, y).show(Str(&bytes)).end_text();
    }
    fn heading(&mut self, s: &str, size: f32) {
        self.need(size * 2.4 + 40.0);
        self.y -= size * 1.6;
        let y = self.y;
        self.text(MARGIN, y, size, true, chart::INK, s);
        self.y -= size * 0.6;
        let y = self.y;
        self.page().set_stroke_rgb(0.84, 0.86, 0.89).set_line_width(0.6).move_to(MARGIN, y).line_to(PAGE_W - MARGIN, y).stroke();
        self.y -= 4.0;
    }
    fn paragraph(&mut self, s: &str, size: f32, color: Rgb) {
        for line in wrap(s, size, BODY_W) {
            self.need(size * 1.4);
            self.y -= size * 1.4;
            let y = self.y;
            self.text(MARGIN, y, size, false, color, &line);
        }
    }
    fn table(&mut self, head: &[String], rows: &[Vec<String>]) {
        let size = 8.5;
        let row_h = size * 1.6;
        let n = head.len();
        // Natural widths, capped, then scaled to the body width.
        let mut natural: Vec<f32> = head.iter().map(|h| width(h, size, true)).collect();
        for r in rows {
            for (i, c) in r.iter().enumerate().take(n) {
                natural[i] = natural[i].max(width(c, size, false).min(220.0));
            }
        }
        // Too wide: the widest column gives way first (down to 90 pt), then all shrink alike.
        let mut cols: Vec<f32> = natural.iter().map(|w| w + 10.0).collect();
        let total: f32 = cols.iter().sum();
        if total > BODY_W
            && let Some((i, w)) = cols.iter().copied().enumerate().max_by(|a, b| a.1.total_cmp(&b.1))
        {
            cols[i] = (w - (total - BODY_W)).max(90.0f32.min(w));
        }
        let total: f32 = cols.iter().sum();
        let scale = (BODY_W / total.max(1.0)).min(1.0);
        let spare = if scale == 1.0 { BODY_W - total } else { 0.0 };
        // Tables span the body: spare width goes to the first column.
        let cols: Vec<f32> = cols.iter().enumerate().map(|(i, w)| w * scale + if i == 0 { spare } else { 0.0 }).collect();
        let draw_row = |doc: &mut Doc, cells: &[String], bold: bool| {
            doc.need(row_h);
            doc.y -= row_h;
            let y = doc.y;
            if bold {
                doc.page().set_fill_rgb(0.95, 0.96, 0.97).rect(MARGIN, y - 3.0, BODY_W, row_h).fill_nonzero();
            }
            let mut x = MARGIN + 4.0;
            for (i, c) in cells.iter().enumerate().take(n) {
                let t = fit(c, size, bold, cols[i] - 8.0);
                doc.text(x, y + 2.0, size, bold, chart::INK, &t);
                x += cols[i];
            }
            doc.page().set_stroke_rgb(0.9, 0.91, 0.94).set_line_width(0.4).move_to(MARGIN, y - 3.0).line_to(PAGE_W - MARGIN, y - 3.0).stroke();
        };
        draw_row(self, head, true);
        if rows.is_empty() {
            draw_row(self, &["None.".to_string()], false);
        }
        for r in rows {
            draw_row(self, r, false);
        }
        self.y -= 6.0;
    }
    fn drawing(&mut self, d: &Drawing) {
        let s = BODY_W / d.width;
        let h = d.height * s;
        self.need(h + 24.0);
        self.y -= 14.0;
        let y = self.y;
        self.text(MARGIN, y, 9.5, true, chart::INK, &d.title);
        self.y -= 4.0;
        let top = self.y;
        let px = |x: f32| MARGIN + x * s;
        let py = |y: f32| top - y * s;
        for op in &d.ops {
            match op {
                Op::Rect { x, y, w, h, fill } => {
                    let (r, g, b) = fill.unit();
                    self.page().set_fill_rgb(r, g, b).rect(px(*x), py(y + h), w * s, h * s).fill_nonzero();
                }
                Op::Line { x1, y1, x2, y2, stroke, width } => {
                    let (r, g, b) = stroke.unit();
                    self.page().set_stroke_rgb(r, g, b).set_line_width(width * s).move_to(px(*x1), py(*y1)).line_to(px(*x2), py(*y2)).stroke();
                }
                Op::Polyline { points, stroke, width } => {
                    let (r, g, b) = stroke.unit();
                    let c = self.page();
                    c.set_stroke_rgb(r, g, b).set_line_width(width * s);
                    for (i, (x, y)) in points.iter().enumerate() {
                        if i == 0 {
                            c.move_to(px(*x), py(*y));
                        } else {
                            c.line_to(px(*x), py(*y));
                        }
                    }
                    c.stroke();
                }
                Op::Dot { x, y, r, fill } => {
                    let (cr, cg, cb) = fill.unit();
                    let d = r * s;
                    self.page().set_fill_rgb(cr, cg, cb).rect(px(*x) - d, py(*y) - d, 2.0 * d, 2.0 * d).fill_nonzero();
                }
                Op::Text { x, y, size, anchor, bold, text } => {
                    let sz = size * s;
                    let w = width(text, sz, *bold);
                    let x0 = match anchor {
                        Anchor::Start => px(*x),
                        Anchor::Middle => px(*x) - w / 2.0,
                        Anchor::End => px(*x) - w,
                    };
                    self.text(x0, py(*y), sz, *bold, chart::INK, text);
                }
            }
        }
        self.y = top - h - 6.0;
    }
}

/// The report as PDF bytes.
pub fn render(r: &Report) -> Vec<u8> {
    let mut doc = Doc::new();
    let title = format!("Completion report: {}", r.project_name);
    doc.y -= 10.0;
    let y = doc.y;
    doc.text(MARGIN, y, 16.0, true, chart::INK, &fit(&title, 16.0, true, BODY_W));
    doc.y -= 8.0;
    doc.paragraph(
        &format!(
            "Client {} · {} · track {} · delivery version {} · built {} · {} items, {} accepted annotations",
            r.client,
            r.modality,
            r.track,
            r.delivery_version,
            crate::time::date_time(r.built_at),
            r.items,
            r.annotations
        ),
        9.0,
        Rgb(0x5b, 0x66, 0x73),
    );
    let charts = chart::all(r);
    for (i, (t, head, rows)) in sections(r).into_iter().enumerate() {
        doc.heading(&t, 12.0);
        doc.table(&head, &rows);
        if t == "Agreement" {
            doc.paragraph(&r.agreement_method, 8.0, Rgb(0x5b, 0x66, 0x73));
            doc.drawing(&charts[0]);
        }
        if t.starts_with("Gold accuracy distribution") {
            doc.drawing(&charts[1]);
        }
        if i == 0 {
            doc.drawing(&charts[2]);
        }
    }
    doc.paragraph("Generated by clinlabel. Taskers appear under stable pseudonyms. The files of this delivery are listed with their SHA-256 in manifest.json, signed by the service key.", 8.0, Rgb(0x5b, 0x66, 0x73));

    let mut pdf = Pdf::new();
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let regular = Ref::new(3);
    let bold = Ref::new(4);
    let info = Ref::new(5);
    let mut next = 6;
    let n = doc.pages.len();
    let page_ids: Vec<Ref> = (0..n).map(|i| Ref::new(next + 2 * i as i32)).collect();
    next += 2 * n as i32;
    let _ = next;
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids(page_ids.iter().copied()).count(n as i32);
    for (i, content) in doc.pages.into_iter().enumerate() {
        let page_id = page_ids[i];
        let content_id = Ref::new(page_id.get() + 1);
        let mut page = pdf.page(page_id);
        page.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H));
        page.parent(tree);
        page.contents(content_id);
        page.resources().fonts().pair(REGULAR, regular).pair(BOLD, bold);
        page.finish();
        pdf.stream(content_id, &content.finish());
    }
    pdf.type1_font(regular).base_font(Name(b"Helvetica")).encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type1_font(bold).base_font(Name(b"Helvetica-Bold")).encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.document_info(info).title(TextStr(&title)).producer(TextStr("clinlabel"));
    pdf.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_follow_the_metrics() {
        // "Hi": H 722 + i 222 at 10 pt.
        assert!((width("Hi", 10.0, false) - 9.44).abs() < 1e-4);
        assert!(width("Hi", 10.0, true) > width("Hi", 10.0, false));
        assert_eq!(winansi("é–x✓"), vec![0xe9, 0x96, b'x', b'?']);
        assert!(width(&fit(&"long ".repeat(50), 9.0, false, 100.0), 9.0, false) <= 100.0);
    }

    #[test]
    fn a_pdf_with_pages_fonts_and_an_info_title() {
        let r = crate::report::tests::sample_report();
        let bytes = render(&r);
        assert!(bytes.starts_with(b"%PDF-1."));
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("/BaseFont /Helvetica") && text.contains("/WinAnsiEncoding"));
        assert!(text.trim_end().ends_with("%%EOF"));
    }

    /// poppler's `pdftotext` (apt: poppler-utils, installed by ci/setup)
    /// reads the agreement table back out of the PDF.
    #[test]
    fn pdftotext_extracts_the_agreement_table() {
        let r = crate::report::tests::sample_report();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.pdf");
        std::fs::write(&path, render(&r)).unwrap();
        let out = std::process::Command::new("pdftotext")
            .args(["-layout", path.to_str().unwrap(), "-"])
            .output()
            .unwrap_or_else(|e| panic!("pdftotext is needed (apt-get install poppler-utils, or ./ci/setup): {e}"));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        let q = &r.agreement[0];
        let line = text.lines().find(|l| l.trim_start().starts_with("Clinical specialty") && l.contains("90.0 %")).unwrap_or_else(|| panic!("no agreement row in:\n{text}"));
        let alpha = format!("{:.2}", q.alpha.unwrap());
        let ci = format!("{:.2} to {:.2}", q.ci_lower.unwrap(), q.ci_upper.unwrap());
        assert!(line.contains(&alpha) && line.contains(&ci) && line.contains(" 40 "), "{line}");
        for heading in ["Completion report: Note triage", "Agreement", "Percent agreement", "Counts per label", "Outcomes per QA tier", "Gold accuracy over time", "Throughput per day"] {
            assert!(text.contains(heading), "{heading} missing from:\n{text}");
        }
    }
}
