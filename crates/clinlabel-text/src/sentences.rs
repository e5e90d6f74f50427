//! A rule-based sentence splitter for clinical notes.
//!
//! Boundaries:
//! - after `.`, `!` or `?` (and any closing quotes or brackets) followed by
//!   whitespace and then an upper-case letter, a digit, a quote, a bracket or
//!   a list bullet — unless the word before is a known abbreviation
//!   ("Dr.", "e.g.", "approx.") or a single letter (an initial), or the
//!   period sits inside a number ("2.5 mg");
//! - at a blank line (two line breaks, CRLF or LF);
//! - at a line break when the line before ends in `.`, `!`, `?`, `:` or `;`,
//!   or the next line starts a list item (`-`, `*`, `•`, `1.`, `2)`) or a
//!   section header (`WORD:` in capitals, e.g. "HPI:", "PAST MEDICAL HISTORY:").
//!
//! A line break that does none of these is a wrapped line and stays inside
//! the sentence. Sentences are returned as char ranges with surrounding
//! whitespace trimmed; the text between them is whitespace only.

use crate::model::Range;

const ABBREVIATIONS: &[&str] = &[
    "dr", "mr", "mrs", "ms", "prof", "st", "vs", "etc", "e.g", "i.e", "eg", "ie", "approx", "appt", "apt", "dept", "fig", "no", "pt", "pts", "hx",
    "dx", "tx", "rx", "sx", "fx", "yr", "yrs", "mo", "mos", "wk", "wks", "min", "mins", "hr", "hrs", "sec", "mg", "mcg", "ml", "cm", "mm", "kg",
    "lb", "lbs", "oz", "tab", "tabs", "cap", "caps", "b.i.d", "t.i.d", "q.i.d", "p.o", "q.d", "p.r.n", "a.m", "p.m", "u.s", "jr", "sr", "inc",
    "co", "ca", "ext", "dec", "approx", "resp", "temp", "vol", "neg", "pos", "cont",
];

fn is_abbrev(word: &str) -> bool {
    let w = word.trim_start_matches(|c: char| !c.is_alphanumeric()).to_ascii_lowercase();
    (w.chars().count() == 1 && w.chars().all(|c| c.is_alphabetic())) || ABBREVIATIONS.contains(&w.as_str())
}

fn starts_list_item(line: &[char]) -> bool {
    let t: Vec<char> = line.iter().copied().skip_while(|c| *c == ' ' || *c == '\t').collect();
    match t.first() {
        Some('-' | '*' | '•' | '·' | '–') => true,
        Some(c) if c.is_ascii_digit() => {
            let digits = t.iter().take_while(|c| c.is_ascii_digit()).count();
            matches!(t.get(digits), Some('.' | ')')) && matches!(t.get(digits + 1), Some(' ' | '\t'))
        }
        _ => false,
    }
}

fn starts_header(line: &[char]) -> bool {
    let t: Vec<char> = line.iter().copied().skip_while(|c| *c == ' ' || *c == '\t').collect();
    let Some(colon) = t.iter().position(|c| *c == ':') else { return false };
    let head = &t[..colon];
    !head.is_empty()
        && head.len() <= 40
        && head.iter().any(|c| c.is_alphabetic())
        && head.iter().all(|c| c.is_uppercase() || c.is_ascii_digit() || matches!(c, ' ' | '/' | '&' | '(' | ')' | '-'))
}

/// Sentence ranges (char offsets) of `text`.
pub fn split(text: &str) -> Vec<Range> {
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    let mut cuts = Vec::new(); // char offsets where a new sentence may start
    let mut i = 0;
    while i < n {
        let c = chars[i];
        if matches!(c, '.' | '!' | '?') {
            // Extend over repeated punctuation and closing quotes/brackets.
            let mut j = i + 1;
            while j < n && matches!(chars[j], '.' | '!' | '?' | '"' | '\'' | ')' | ']' | '\u{201D}') {
                j += 1;
            }
            if j < n && chars[j].is_whitespace() {
                let mut k = j;
                while k < n && chars[k].is_whitespace() {
                    k += 1;
                }
                let next = chars.get(k).copied();
                let word_start = chars[..i].iter().rposition(|c| c.is_whitespace()).map_or(0, |p| p + 1);
                let word: String = chars[word_start..i].iter().collect();
                let line_start = chars[..word_start].iter().rev().take_while(|c| **c != '\n').all(|c| c.is_whitespace());
                let list_number = line_start && !word.is_empty() && word.len() <= 3 && word.chars().all(|c| c.is_ascii_digit());
                let in_number = list_number || c == '.' && i > 0 && chars[i - 1].is_ascii_digit() && next.is_some_and(|x| x.is_ascii_digit()) && k == j;
                let newline_between = chars[j..k].contains(&'\n');
                let next_ok = next.is_some_and(|x| x.is_uppercase() || x.is_ascii_digit() || matches!(x, '"' | '\'' | '(' | '[' | '-' | '*' | '•'));
                if !in_number && (newline_between || (next_ok && !(c == '.' && is_abbrev(&word)))) {
                    cuts.push(j);
                }
            }
            i = j;
            continue;
        }
        if c == '\n' {
            // Line end: find the previous line's last non-space char and the next line.
            let line_end = if i > 0 && chars[i - 1] == '\r' { i - 1 } else { i };
            let prev = chars[..line_end].iter().rev().find(|c| !c.is_whitespace() || **c == '\n').copied();
            let next_start = i + 1;
            let next_end = chars[next_start..].iter().position(|c| *c == '\n').map_or(n, |p| next_start + p);
            let next_line = &chars[next_start..next_end];
            let blank_next = next_line.iter().all(|c| c.is_whitespace());
            let blank_prev = prev.is_none() || prev == Some('\n');
            if blank_next
                || blank_prev
                || matches!(prev, Some('.' | '!' | '?' | ':' | ';'))
                || starts_list_item(next_line)
                || starts_header(next_line)
            {
                cuts.push(i + 1);
            }
        }
        i += 1;
    }
    // Header lines: "HPI: text" keeps the header with its text (ConText needs both in one sentence
    // only when the header is a trigger such as "PAST MEDICAL HISTORY:"), so no cut after a colon.
    cuts.push(n);
    let mut out = Vec::new();
    let mut start = 0;
    for cut in cuts {
        if cut <= start {
            continue;
        }
        let mut a = start;
        let mut b = cut;
        while a < b && chars[a].is_whitespace() {
            a += 1;
        }
        while b > a && chars[b - 1].is_whitespace() {
            b -= 1;
        }
        if a < b {
            out.push(Range { start: a, end: b });
        }
        start = cut;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sents(t: &str) -> Vec<String> {
        let c: Vec<char> = t.chars().collect();
        split(t).into_iter().map(|r| c[r.start..r.end].iter().collect()).collect()
    }

    #[test]
    fn splits_prose_but_not_abbreviations_or_numbers() {
        assert_eq!(
            sents("Seen by Dr. Smith today. Takes 2.5 mg daily, e.g. at night. No fever! Denies pain?  Yes."),
            ["Seen by Dr. Smith today.", "Takes 2.5 mg daily, e.g. at night.", "No fever!", "Denies pain?", "Yes."]
        );
    }

    #[test]
    fn splits_lines_lists_and_headers_keeping_wrapped_lines() {
        let t = "HPI: 65 yo man with chest pain\r\nradiating to the arm.\r\n\r\nPAST MEDICAL HISTORY:\r\n1. Diabetes\r\n2. Hypertension\r\nPLAN: follow up";
        assert_eq!(
            sents(t),
            ["HPI: 65 yo man with chest pain\r\nradiating to the arm.", "PAST MEDICAL HISTORY:", "1. Diabetes", "2. Hypertension", "PLAN: follow up"]
        );
        assert_eq!(sents("- cough\n- no fever"), ["- cough", "- no fever"]);
    }

    #[test]
    fn ranges_are_char_offsets() {
        let t = "😀 Pain. Fever.";
        let r = split(t);
        assert_eq!(r, vec![Range { start: 0, end: 7 }, Range { start: 8, end: 14 }]);
    }
}
