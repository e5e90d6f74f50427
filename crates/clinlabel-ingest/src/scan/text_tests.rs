//! Tests of the text scanners: every input is fed in chunks of many sizes
//! (one byte at a time included) and must give the same items or the same
//! refusal; accepted items must read back (`crate::note`) to exactly what
//! `clinlabel-text`'s readers yield for the whole file.

use super::*;
use crate::note::{bioc_note, csv_note};
use clinlabel_text::ingest::{CsvOptions, read_bioc, read_csv, read_jsonl};

const PIECES: [usize; 10] = [1, 2, 3, 4, 5, 7, 13, 64, 4096, usize::MAX];

fn scan_with(name: &str, data: &[u8], piece: usize, column: &str) -> Result<Vec<NewItem>, String> {
    let (_, mut s) = choose(Modality::Text, Purpose::Data, name, 100_000, &TextSettings { text_column: column, ..TextSettings::plain() });
    for c in data.chunks(piece.clamp(1, data.len().max(1))) {
        s.push(c);
    }
    s.finish()
}

/// The outcome, checked to be the same for every chunking.
fn scan_col(name: &str, data: &[u8], column: &str) -> Result<Vec<NewItem>, String> {
    let first = scan_with(name, data, PIECES[0], column);
    for p in &PIECES[1..] {
        assert_eq!(
            scan_with(name, data, *p, column),
            first,
            "{name}: pieces of {p} bytes differ from single bytes"
        );
    }
    first
}

fn scan(name: &str, data: &[u8]) -> Result<Vec<NewItem>, String> {
    scan_col(name, data, "text")
}

fn range<'a>(data: &'a [u8], it: &NewItem) -> &'a [u8] {
    &data[it.byte_start as usize..it.byte_end as usize]
}

/// The CSV items read back one by one, as the content routes do.
fn csv_items_read_back(data: &[u8], items: &[NewItem]) -> Vec<crate::note::Note> {
    items
        .iter()
        .map(|it| {
            let h = &it.meta["header"];
            let header = &data[h[0].as_u64().unwrap() as usize..h[1].as_u64().unwrap() as usize];
            csv_note(
                header,
                range(data, it),
                it.meta["text_column"].as_str().unwrap(),
            )
            .unwrap()
        })
        .collect()
}

// -- CSV -------------------------------------------------------------------------------

#[test]
fn csv_rows_are_items_that_read_back_as_the_csv_reader_reads_the_file() {
    // BOM, CRLF records, a quoted field with a comma, CRLF and an escaped quote
    // inside, an LF-only record, a blank line, emoji and a combining accent,
    // no line break at the end.
    let data = "\u{FEFF}id,text,ward\r\n\
                n1,\"Chest pain, left arm.\r\nECG: \"\"normal\"\".\",A\r\n\
                n2,Plain note 😀 cafe\u{301},B\n\
                \r\n\
                n3,\"multi\nline\",\"C, D\"";
    let bytes = data.as_bytes();
    let items = scan("notes.csv", bytes).unwrap();
    assert_eq!(items.len(), 3);
    // Each range is the row as stored, without its line break.
    assert_eq!(
        range(bytes, &items[0]),
        "n1,\"Chest pain, left arm.\r\nECG: \"\"normal\"\".\",A".as_bytes()
    );
    assert_eq!(
        range(bytes, &items[1]),
        "n2,Plain note 😀 cafe\u{301},B".as_bytes()
    );
    assert_eq!(
        range(bytes, &items[2]),
        "n3,\"multi\nline\",\"C, D\"".as_bytes()
    );
    assert_eq!(items[0].meta["header"], json!([3, 15]));
    assert_eq!(
        (
            items[0].meta["row"].as_u64(),
            items[0].meta["line"].as_u64()
        ),
        (Some(1), Some(2))
    );
    assert_eq!(
        (
            items[1].meta["row"].as_u64(),
            items[1].meta["line"].as_u64()
        ),
        (Some(2), Some(4))
    );
    assert_eq!(
        (
            items[2].meta["row"].as_u64(),
            items[2].meta["line"].as_u64()
        ),
        (Some(3), Some(6))
    );
    assert_eq!(
        items[1].meta["chars"],
        "Plain note 😀 cafe\u{301}".chars().count()
    );

    let back = csv_items_read_back(bytes, &items);
    assert_eq!(back[0].text, "Chest pain, left arm.\r\nECG: \"normal\".");
    assert_eq!(back[0].id.as_deref(), Some("n1"));
    assert_eq!(back[2].metadata["ward"], "C, D");
    let whole: Vec<_> = read_csv(
        "notes.csv",
        bytes,
        &CsvOptions {
            id_column: Some("id".into()),
            ..CsvOptions::new("text")
        },
    )
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap();
    assert_eq!(whole.len(), back.len());
    for (b, w) in back.iter().zip(&whole) {
        assert_eq!(
            (b.id.as_deref(), &b.text, &b.metadata),
            (Some(w.id.as_str()), &w.text, &w.metadata)
        );
        assert_eq!(
            b.text.chars().count() as u64,
            items
                .iter()
                .find(|i| csv_note_text(bytes, i) == b.text)
                .unwrap()
                .meta["chars"]
                .as_u64()
                .unwrap()
        );
    }
}

fn csv_note_text(data: &[u8], it: &NewItem) -> String {
    csv_items_read_back(data, std::slice::from_ref(it))
        .remove(0)
        .text
}

#[test]
fn the_csv_text_column_is_the_projects() {
    let data = b"note_id,body,site\nA1,first,x\nA2,second,y\n";
    let items = scan_col("n.csv", data, "body").unwrap();
    assert_eq!(items[1].meta["text_column"], "body");
    let back = csv_items_read_back(data, &items);
    assert_eq!(
        (back[1].text.as_str(), back[1].id.as_deref()),
        ("second", None)
    );
    assert_eq!(back[1].metadata["note_id"], "A2");
    let e = scan("n.csv", data).unwrap_err();
    assert_eq!(
        e,
        "header (line 1): no column \"text\" (columns: note_id, body, site); the project's text column is set in its specification"
    );
}

#[test]
fn malformed_csv_is_refused_naming_row_and_line() {
    // A row without the text column (fewer fields than the header).
    let e = scan("a.csv", b"id,text\n1,ok\n2\n").unwrap_err();
    assert!(
        e.starts_with("row 2 (line 3): 1 field(s), the header has 2"),
        "{e}"
    );
    // A row with more fields.
    let e = scan("a.csv", b"id,text\n1,ok\r\n\r\n2,x,y\r\n").unwrap_err();
    assert_eq!(e, "row 2 (line 4): more than the header's 2 fields");
    // A quoted field still open at the end: the row where it starts.
    let e = scan("a.csv", b"id,text\n1,ok\n2,\"never closed\n3,x\n").unwrap_err();
    assert_eq!(
        e,
        "row 2 (line 3): a quoted field is not closed (the file ends inside it)"
    );
    let e = scan("a.csv", b"id,text\n1,\n").unwrap_err();
    assert_eq!(e, "row 1 (line 2): the text column \"text\" is empty");
    assert_eq!(
        scan("a.csv", b"").unwrap_err(),
        "no header row: the file is empty"
    );
    assert_eq!(
        scan("a.csv", b"id,text\r\n").unwrap_err(),
        "no records: the file has a header but no rows"
    );
    // The csv crate refuses the unequal rows too.
    let mut r = ::csv::Reader::from_reader(&b"id,text\n1,ok\n2\n"[..]);
    assert!(r.records().any(|x| x.is_err()));
}

#[test]
fn csv_notes_over_1_mib_are_refused_naming_the_row() {
    let mut data = b"id,text\nsmall,ok\nbig,".to_vec();
    data.extend(std::iter::repeat_n(b'x', text::MAX_NOTE_BYTES + 1));
    data.push(b'\n');
    let (_, mut s) = choose(Modality::Text, Purpose::Data, "b.csv", 100, &TextSettings::plain());
    s.push(&data);
    assert_eq!(
        s.finish().unwrap_err(),
        "row 2 (line 3): the text is 1048577 bytes; a note is at most 1 MiB (1048576 bytes)"
    );
    let mut ok = b"id,text\nfull,".to_vec();
    ok.extend(std::iter::repeat_n(b'y', text::MAX_NOTE_BYTES));
    let (_, mut s) = choose(Modality::Text, Purpose::Data, "b.csv", 100, &TextSettings::plain());
    s.push(&ok);
    assert_eq!(s.finish().unwrap()[0].meta["chars"], text::MAX_NOTE_BYTES);
}

/// A tiny deterministic generator (no dependency): xorshift64*.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn csv_scanning_agrees_with_the_csv_crate_on_random_input() {
    // Rows of three fields, quoted or not, over the bytes that matter to CSV;
    // some rows get a stray token inserted anywhere (quotes, commas, breaks).
    const PLAIN: [&str; 8] = ["a", "b", "c", " ", "é", "😀", "\"", "x y"];
    const QUOTED: [&str; 9] = ["a", " ", ",", "\"\"", "\r", "\n", "\r\n", "é", "😀"];
    const STRAY: [&str; 6] = [",", "\"", "\r", "\n", "\r\n", "\"\""];
    let mut rng = Rng(0x5EED_CAFE_F00D_1234);
    let (mut accepted, mut unequal) = (0, 0);
    for round in 0..3000 {
        let mut s = String::from(["id,text,x", "id,\"text\",x"][rng.below(2)]);
        for _ in 0..rng.below(4) + 1 {
            s.push_str(["\n", "\r\n", "\r", "\n\n"][rng.below(4)]);
            let mut row = String::new();
            for f in 0..3 {
                if f > 0 {
                    row.push(',');
                }
                let n = rng.below(4);
                if rng.below(2) == 0 {
                    row.push('"');
                    (0..n).for_each(|_| row.push_str(QUOTED[rng.below(QUOTED.len())]));
                    row.push('"');
                    if rng.below(8) == 0 {
                        row.push('z'); // bytes after the closing quote join the field
                    }
                } else {
                    (0..n).for_each(|_| row.push_str(PLAIN[rng.below(PLAIN.len())]));
                }
            }
            if rng.below(5) == 0 {
                let cut = (0..=row.len())
                    .filter(|&i| row.is_char_boundary(i))
                    .nth(rng.below(row.chars().count() + 1))
                    .unwrap();
                row.insert_str(cut, STRAY[rng.below(STRAY.len())]);
            }
            s.push_str(&row);
        }
        if rng.below(2) == 0 {
            s.push_str("\r\n");
        }
        let data = s.as_bytes();
        let piece = [1, 2, 5, 64][round % 4];
        let ours = scan_with("r.csv", data, piece, "text");
        let theirs: Result<Vec<_>, _> = read_csv(
            "r.csv",
            data,
            &CsvOptions {
                id_column: Some("id".into()),
                ..CsvOptions::new("text")
            },
        )
        .unwrap()
        .collect();
        match ours {
            Ok(items) => {
                accepted += 1;
                let theirs = theirs
                    .unwrap_or_else(|e| panic!("{s:?}: we accept, the csv crate refuses: {e}"));
                let back = csv_items_read_back(data, &items);
                assert_eq!(back.len(), theirs.len(), "{s:?}");
                for (b, t) in back.iter().zip(&theirs) {
                    assert_eq!(
                        (b.id.as_deref().unwrap_or(""), &b.text, &b.metadata),
                        (t.id.as_str(), &t.text, &t.metadata),
                        "{s:?}"
                    );
                    assert!(!b.text.is_empty());
                }
            }
            Err(e)
                if e.contains("field(s), the header has")
                    || e.contains("more than the header's") =>
            {
                unequal += 1;
                assert!(
                    theirs.is_err(),
                    "{s:?}: we refuse ({e}), the csv crate reads it"
                );
            }
            Err(e) => {
                assert!(
                    e.contains("is empty") || e.contains("not closed") || e.contains("no records"),
                    "{s:?}: unexpected refusal {e}"
                );
                if e.contains("is empty") {
                    // The csv crate reads an empty text in the row we name.
                    let row: usize = e
                        .strip_prefix("row ")
                        .and_then(|r| r.split(' ').next())
                        .unwrap()
                        .parse()
                        .unwrap();
                    let mut docs = read_csv("r.csv", data, &CsvOptions::new("text")).unwrap();
                    assert_eq!(docs.nth(row - 1).unwrap().unwrap().text, "", "{s:?}");
                }
            }
        }
    }
    // The generator exercises both sides.
    assert!(
        accepted > 300 && unequal > 100,
        "accepted {accepted}, unequal {unequal}"
    );
}

// -- BioC ------------------------------------------------------------------------------

const BIOC: &str = concat!(
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
    "<!DOCTYPE collection SYSTEM \"BioC.dtd\" [ <!-- an internal subset > --> ]>\n",
    "<collection><source>test</source><date>2026-01-01</date><key>k</key>\n",
    "<!-- <document> in a comment is not one -->\n",
    "<infon key=\"note\">a collection infon</infon>\n",
    "<document><id>d1</id><infon key=\"ward\">A&amp;E</infon>\n",
    "<passage><offset>0</offset><text>Chest pain.&#13;\nNo fever 😀.</text>",
    "<annotation id=\"T1\"><infon key=\"type\">symptom</infon><location offset=\"0\" length=\"10\"/><text>Chest pain</text></annotation>",
    "</passage>\n",
    "<passage><offset>30</offset><text><![CDATA[Plan: <document> & ECG.]]></text></passage>\n",
    "</document>\n",
    "<document><id>d2</id><passage><infon key=\"type\">title</infon><offset>0</offset><text attr='a>b' b=\"/>\">Cafe\u{301} visit</text></passage></document>",
    "</collection>\n"
);

#[test]
fn bioc_documents_are_items_that_read_back_as_the_bioc_reader_reads_the_file() {
    let data = BIOC.as_bytes();
    let items = scan("c.xml", data).unwrap();
    assert_eq!(items.len(), 2);
    let doc1 = range(data, &items[0]);
    assert!(
        doc1.starts_with(b"<document><id>d1</id>") && doc1.ends_with(b"</passage>\n</document>"),
        "{}",
        String::from_utf8_lossy(doc1)
    );
    assert!(
        range(data, &items[1]).starts_with(b"<document><id>d2")
            && range(data, &items[1]).ends_with(b"</document>")
    );
    assert_eq!(items[1].meta["document"], 2);

    let back: Vec<_> = items
        .iter()
        .map(|it| bioc_note(range(data, it)).unwrap())
        .collect();
    // The text: passages at their offsets, the gap filled with newlines, CR from &#13;.
    let first = "Chest pain.\r\nNo fever 😀.";
    let expect1 = format!(
        "{first}{}Plan: <document> & ECG.",
        "\n".repeat(30 - first.chars().count())
    );
    assert_eq!(back[0].text, expect1);
    assert_eq!(back[0].id.as_deref(), Some("d1"));
    assert_eq!(back[0].metadata["ward"], "A&E");
    assert_eq!(back[1].text, "Cafe\u{301} visit");
    assert_eq!(items[0].meta["chars"], expect1.chars().count());
    let whole: Vec<_> = read_bioc("c.xml", data).collect::<Result<_, _>>().unwrap();
    for (b, w) in back.iter().zip(&whole) {
        assert_eq!(
            (b.id.as_deref(), &b.text, &b.metadata),
            (Some(w.id.as_str()), &w.text, &w.metadata)
        );
    }
    // Also under .bioc, after a BOM.
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(data);
    let shifted = scan("c.bioc", &bom).unwrap();
    assert_eq!(shifted[0].byte_start, items[0].byte_start + 3);
}

#[test]
fn bioc_refusals_name_the_document_or_the_offset() {
    let e = scan("c.xml", b"<?xml version=\"1.0\"?><root><document/></root>").unwrap_err();
    assert_eq!(
        e,
        "not a BioC collection: the root element is <root> (byte offset 21), expected <collection>"
    );
    assert_eq!(
        scan("c.xml", b"<collection></collection>").unwrap_err(),
        "no documents: the collection holds no <document>"
    );
    let e = scan("c.xml", b"<collection><document><id>x</id><passage><offset>0</offset><text>a</text></passage></document>").unwrap_err();
    assert_eq!(
        e,
        "the file ends inside an element (is </collection> missing?)"
    );
    let e = scan(
        "c.xml",
        b"<collection><document><id>x</id><passage><offset>0</offset><text>a</text>",
    )
    .unwrap_err();
    assert_eq!(e, "document 1 (byte offset 12): the file ends inside it");
    let e = scan("c.xml", b"<collection><document><passage><text>ok</text></passage></document></collection><collection/>").unwrap_err();
    assert!(
        e.starts_with("a second root element at byte offset 80"),
        "{e}"
    );
    let e = scan("c.xml", b"stray <collection/>").unwrap_err();
    assert_eq!(
        e,
        "not well-formed XML: text outside the <collection> element at byte offset 0"
    );
    // A document the BioC reader refuses: the problem, without the content it quotes.
    let bad = b"<collection><document><id>secret-id</id><passage><offset>0</offset><text>fever</text><annotation id=\"A\"><location offset=\"0\" length=\"5\"/><text>cough</text></annotation></passage></document></collection>";
    let e = scan("c.xml", bad).unwrap_err();
    assert!(
        e.starts_with("document 1 (byte offset 12): annotation A says \"…\""),
        "{e}"
    );
    assert!(
        !e.contains("cough") && !e.contains("fever") && !e.contains("secret"),
        "{e}"
    );
    // An empty document.
    let e = scan(
        "c.xml",
        b"<collection><document><id>e</id></document></collection>",
    )
    .unwrap_err();
    assert_eq!(
        e,
        "document 1 (byte offset 12): no passage text (a note needs text)"
    );
}

#[test]
fn bioc_documents_over_1_mib_are_refused_naming_the_document() {
    let mut data = b"<collection><document><id>a</id><passage><offset>0</offset><text>ok</text></passage></document>\n".to_vec();
    let second = data.len();
    data.extend_from_slice(b"<document><id>b</id><passage><offset>0</offset><text>");
    data.extend(std::iter::repeat_n(b'x', text::MAX_NOTE_BYTES + 1));
    data.extend_from_slice(b"</text></passage></document></collection>");
    let (_, mut s) = choose(Modality::Text, Purpose::Data, "big.xml", 100, &TextSettings::plain());
    for c in data.chunks(8192) {
        s.push(c);
    }
    assert_eq!(
        s.finish().unwrap_err(),
        format!(
            "document 2 (byte offset {second}): the text is 1048577 bytes; a note is at most 1 MiB (1048576 bytes)"
        )
    );
}

#[test]
fn a_large_bioc_collection_streams_one_document_at_a_time() {
    // 2,000 documents: the scanner never holds more than the current one.
    let mut data = b"<collection>".to_vec();
    for i in 0..2000 {
        data.extend_from_slice(format!("<document><id>{i}</id><passage><offset>0</offset><text>note {i}</text></passage></document>\n").as_bytes());
    }
    data.extend_from_slice(b"</collection>");
    let mut scanner = bioc::BiocDocs::new(100_000);
    let mut peak = 0;
    for (k, c) in data.chunks(1000).enumerate() {
        text::Records::push(&mut scanner, c, (k * 1000) as u64).unwrap();
        peak = peak.max(scanner.held());
    }
    assert!(peak < 200, "held {peak} bytes");
    let items = text::Records::finish(Box::new(scanner), data.len() as u64).unwrap();
    assert_eq!(items.len(), 2000);
    assert_eq!(
        bioc_note(range(&data, &items[1999])).unwrap().text,
        "note 1999"
    );
}

// -- UTF-8, BOM, sizes, for every format ------------------------------------------------

#[test]
fn other_encodings_are_refused_with_the_byte_offset_in_every_format() {
    // "café" in Latin-1: é is the single byte 0xE9.
    let cases: [(&str, &[u8]); 5] = [
        ("n.txt", b"Patient: caf\xe9\r\nNo fever."),
        ("n.md", b"# Note\ncaf\xe9"),
        ("n.jsonl", b"{\"text\":\"ok\"}\n{\"text\":\"caf\xe9\"}\n"),
        ("n.csv", b"id,text\r\n1,\"caf\xe9\"\r\n"),
        ("n.xml", b"<collection><document><passage><text>caf\xe9</text></passage></document></collection>"),
    ];
    for (name, data) in cases {
        let at = data.iter().position(|&b| b == 0xE9).unwrap();
        let e = scan(name, data).unwrap_err();
        assert!(
            e.starts_with(&format!(
                "not valid UTF-8: invalid byte sequence at byte offset {at} ("
            )),
            "{name}: {e}"
        );
        // clinlabel-text's readers name the same offset.
        let theirs = match name {
            "n.jsonl" => read_jsonl(name, data).find_map(Result::err).unwrap(),
            "n.csv" => read_csv(name, data, &CsvOptions::new("text"))
                .unwrap()
                .find_map(Result::err)
                .unwrap(),
            "n.xml" => read_bioc(name, data).find_map(Result::err).unwrap(),
            _ => clinlabel_text::ingest::read_text(name, data).unwrap_err(),
        };
        assert!(
            matches!(theirs, clinlabel_text::TextError::NotUtf8 { offset, .. } if offset == at as u64),
            "{name}: {theirs}"
        );
    }
    // After a BOM the offset still counts from the start of the file; UTF-16 fails at 0.
    assert!(
        scan("n.txt", b"\xEF\xBB\xBFab\xff")
            .unwrap_err()
            .contains("byte offset 5")
    );
    assert!(
        scan("n.csv", b"\xFF\xFEi\x00d\x00")
            .unwrap_err()
            .contains("byte offset 0")
    );
}

#[test]
fn plain_text_keeps_crlf_drops_the_bom_and_is_limited_to_1_mib() {
    let data = "\u{FEFF}Line 1\r\nLine 2 😀\r\n".as_bytes();
    let items = scan("n.txt", data).unwrap();
    assert_eq!(
        (items[0].byte_start, items[0].byte_end),
        (3, data.len() as i64)
    );
    assert_eq!(range(data, &items[0]), "Line 1\r\nLine 2 😀\r\n".as_bytes());
    assert_eq!(items[0].meta["chars"], 18);
    assert_eq!(
        scan("n.txt", b"\xEF\xBB\xBF").unwrap_err(),
        "empty file: a note needs text"
    );
    let full = vec![b'a'; text::MAX_NOTE_BYTES];
    assert_eq!(
        scan_with("n.txt", &full, 65536, "text").unwrap()[0].byte_end,
        full.len() as i64
    );
    let over = vec![b'a'; text::MAX_NOTE_BYTES + 1];
    assert_eq!(
        scan_with("n.txt", &over, 65536, "text").unwrap_err(),
        "the text is 1048577 bytes; a note is at most 1 MiB (1048576 bytes)"
    );
}

#[test]
fn jsonl_notes_are_checked_like_the_jsonl_reader_checks_them() {
    let data = "\u{FEFF}{\"id\":1,\"text\":\"a\\r\\nb\",\"metadata\":{\"ward\":\"A\"}}\r\n{\"text\":\"c\"}".as_bytes();
    let items = scan("n.jsonl", data).unwrap();
    assert_eq!(items[0].byte_start, 3);
    assert_eq!(
        range(data, &items[0]),
        b"{\"id\":1,\"text\":\"a\\r\\nb\",\"metadata\":{\"ward\":\"A\"}}"
    );
    let docs: Vec<_> = read_jsonl("n.jsonl", data)
        .collect::<Result<_, _>>()
        .unwrap();
    for (it, d) in items.iter().zip(&docs) {
        let v: Value = serde_json::from_slice(range(data, it)).unwrap();
        assert_eq!(v["text"], d.text.as_str());
        assert_eq!(it.meta["chars"], d.text.chars().count());
    }
    assert_eq!(
        scan("n.jsonl", b"{\"text\":\"a\",\"metadata\":[1]}").unwrap_err(),
        "line 1: \"metadata\" must be an object"
    );
    assert_eq!(
        scan("n.jsonl", b"{\"text\":\"a\",\"id\":{}}").unwrap_err(),
        "line 1: \"id\" must be a string or a number"
    );
    let big = serde_json::to_vec(&json!({ "text": "x".repeat(text::MAX_NOTE_BYTES + 1) })).unwrap();
    let mut data = b"{\"text\":\"ok\"}\n".to_vec();
    data.extend_from_slice(&big);
    assert_eq!(
        scan_with("n.jsonl", &data, 65536, "text").unwrap_err(),
        "line 2: the text is 1048577 bytes; a note is at most 1 MiB (1048576 bytes)"
    );
}
