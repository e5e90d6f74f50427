//! `clinlabel text …`: clinical text from the command line — pre-annotation
//! (dictionary + ConText), exports to the field's formats, imports — and the
//! `clinlabel bench text` figures (assertion precision/recall beside
//! medspaCy 1.3.1, pre-annotation throughput).

use anyhow::{Context, anyhow, bail};
use clinlabel_text::context::{ConText, RuleSet};
use clinlabel_text::eval;
use clinlabel_text::export::{self, FileSink, Format, Options};
use clinlabel_text::ingest::{self, CsvOptions, Utf8Checked};
use clinlabel_text::matcher::{Matcher, Term, parse_lexicon};
use clinlabel_text::model::{AnnotatedDocument, Assertion, Code};
use clinlabel_text::preannotate::{Preannotator, Request};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct TextArgs {
    #[command(subcommand)]
    cmd: TextCmd,
}

#[derive(Debug, clap::Subcommand)]
enum TextCmd {
    /// Assertion status (and, with a dictionary, spans with candidate codes) for JSONL
    /// lines `{"id"?, "text", "spans"?: [{start, end}]}`; writes one JSONL answer per line.
    Preannotate {
        /// Lexicon file: term<TAB>label[<TAB>system:code[<TAB>display]] per line.
        #[arg(long)]
        lexicon: Option<PathBuf>,
        /// Also match the descriptions of a bundled code system (icd10cm, icd10pcs).
        #[arg(long)]
        system: Option<String>,
        /// Entity label for matches of --system.
        #[arg(long, default_value = "disease")]
        system_label: String,
        /// ConText rule file instead of the shipped rules.
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Write native annotated documents (suggested spans, pending) instead of answers.
        #[arg(long)]
        native: bool,
        /// Input JSONL (default: standard input).
        input: Option<PathBuf>,
    },
    /// Export native JSONL (annotated documents) to brat, bioc, conll, spacy, labelstudio or jsonl.
    Export {
        #[arg(long)]
        format: String,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Also export suggestions nobody reviewed yet.
        #[arg(long)]
        pending: bool,
        /// Input native JSONL (default: standard input).
        input: Option<PathBuf>,
    },
    /// Read documents (txt, jsonl, csv, bioc, labelstudio) and write native JSONL to standard output.
    Import {
        #[arg(long)]
        format: String,
        /// CSV: the column holding the text.
        #[arg(long, default_value = "text")]
        text_column: String,
        /// CSV: the id column (default: file:row).
        #[arg(long)]
        id_column: Option<String>,
        files: Vec<PathBuf>,
    },
}

fn open_input(input: &Option<PathBuf>) -> anyhow::Result<(String, Box<dyn Read>)> {
    Ok(match input {
        Some(p) => (p.display().to_string(), Box::new(std::fs::File::open(p).with_context(|| format!("cannot open {}", p.display()))?)),
        None => ("stdin".to_string(), Box::new(std::io::stdin().lock())),
    })
}

/// Dictionary terms from a lexicon file and/or a bundled code system.
fn load_terms(lexicon: &Option<PathBuf>, system: &Option<String>, label: &str) -> anyhow::Result<Vec<Term>> {
    let mut terms = Vec::new();
    if let Some(p) = lexicon {
        let bytes = std::fs::read(p).with_context(|| format!("--lexicon: cannot read {}", p.display()))?;
        let text = ingest::decode(&p.display().to_string(), bytes)?;
        terms.extend(parse_lexicon(&p.display().to_string(), &text)?);
    }
    if let Some(s) = system {
        let sys = clinlabel_terminology::System::parse(s).ok_or_else(|| anyhow!("--system: unknown code system {s:?}"))?;
        let t = clinlabel_terminology::Terminology::bundled();
        let cs = t.get(sys).map_err(|e| anyhow!("--system {s}: {e} (only bundled systems are available here: icd10cm, icd10pcs)"))?;
        let version = cs.version().to_string();
        terms.extend(cs.terms().map(|(code, term)| {
            Term::new(term, label, Some(Code { system: sys.id().to_string(), code: code.to_string(), display: Some(term.to_string()), version: Some(version.clone()) }))
        }));
    }
    Ok(terms)
}

fn load_rules(rules: &Option<PathBuf>) -> anyhow::Result<RuleSet> {
    Ok(match rules {
        Some(p) => {
            let text = ingest::decode(&p.display().to_string(), std::fs::read(p).with_context(|| format!("--rules: cannot read {}", p.display()))?)?;
            RuleSet::parse(&p.display().to_string(), &text)?
        }
        None => RuleSet::default_rules(),
    })
}

struct Dir(PathBuf);
impl FileSink for Dir {
    fn file(&mut self, path: &str, bytes: &[u8]) -> std::io::Result<()> {
        std::fs::write(self.0.join(path), bytes)
    }
}

pub fn run(args: TextArgs) -> anyhow::Result<ExitCode> {
    match args.cmd {
        TextCmd::Preannotate { lexicon, system, system_label, rules, native, input } => {
            let terms = load_terms(&lexicon, &system, &system_label)?;
            let matcher = (!terms.is_empty()).then(|| Matcher::new(terms));
            let p = Preannotator::new(matcher, ConText::new(load_rules(&rules)?));
            let (name, r) = open_input(&input)?;
            let out = std::io::stdout().lock();
            let mut out = BufWriter::new(out);
            let reader = BufReader::new(Utf8Checked::new(r));
            for (i, line) in reader.lines().enumerate() {
                let line = line.map_err(|e| anyhow!("{}", clinlabel_text::TextError::Io { name: name.clone(), source: e }))?;
                if line.trim().is_empty() {
                    continue;
                }
                let place = || format!("{name} line {}", i + 1);
                if native {
                    let mut doc: AnnotatedDocument = serde_json::from_str(&line).with_context(place)?;
                    if doc.id.is_empty() {
                        doc.id = format!("{name}:{}", i + 1);
                    }
                    p.suggest(&mut doc);
                    serde_json::to_writer(&mut out, &doc)?;
                } else {
                    let req: Request = serde_json::from_str(&line).with_context(place)?;
                    let resp = p.run(req).map_err(|e| anyhow!("{}: {e}", place()))?;
                    serde_json::to_writer(&mut out, &resp)?;
                }
                out.write_all(b"\n")?;
            }
            out.flush()?;
        }
        TextCmd::Export { format, out, pending, input } => {
            let f = Format::parse(&format).ok_or_else(|| anyhow!("--format: {format:?} is not one of jsonl, brat, bioc, conll, spacy, labelstudio"))?;
            std::fs::create_dir_all(&out).with_context(|| format!("--out: cannot create {}", out.display()))?;
            let (name, r) = open_input(&input)?;
            let opts = Options { pending, date: String::new() };
            let mut w = match f.single_file() {
                Some(file) => export::writer(f, BufWriter::new(std::fs::File::create(out.join(file))?), &opts).expect("single-file format"),
                None => export::sink_writer(f, Dir(out.clone()), &opts).expect("multi-file format"),
            };
            let (mut labels, mut rels, mut questions) = (std::collections::BTreeSet::new(), std::collections::BTreeSet::new(), std::collections::BTreeMap::<String, std::collections::BTreeSet<String>>::new());
            for doc in ingest::read_jsonl_annotated(&name, r) {
                let doc = doc?;
                labels.extend(doc.spans.iter().map(|s| s.label.clone()));
                rels.extend(doc.relations.iter().map(|r| r.kind.clone()));
                for c in doc.classifications.iter().filter(|c| c.sentence.is_none()) {
                    questions.entry(c.question.clone()).or_default().extend(c.answers.iter().cloned());
                }
                w.write(&doc)?;
            }
            let stats = w.finish()?;
            if f == Format::LabelStudio {
                let cfg = export::labelstudio::labeling_config(
                    &labels.into_iter().collect::<Vec<_>>(),
                    &rels.into_iter().collect::<Vec<_>>(),
                    &Assertion::ALL.iter().map(|a| a.as_str().to_string()).collect::<Vec<_>>(),
                    &questions.into_iter().map(|(q, a)| (q, a.into_iter().collect())).collect::<Vec<_>>(),
                );
                std::fs::write(out.join("labelstudio.config.xml"), cfg)?;
            }
            eprintln!("{}", serde_json::to_string(&stats)?);
        }
        TextCmd::Import { format, text_column, id_column, files } => {
            if files.is_empty() {
                bail!("give the files to import");
            }
            let mut out = BufWriter::new(std::io::stdout().lock());
            let mut emit = |d: AnnotatedDocument| -> clinlabel_text::Result<()> {
                serde_json::to_writer(&mut out, &d).map_err(|e| clinlabel_text::TextError::Span(e.to_string()))?;
                out.write_all(b"\n").map_err(|e| clinlabel_text::TextError::Io { name: "stdout".into(), source: e })
            };
            for p in &files {
                let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| p.display().to_string());
                let f = std::fs::File::open(p).with_context(|| format!("cannot open {}", p.display()))?;
                match format.as_str() {
                    "txt" | "text" => emit(ingest::read_text(&name, f)?.into())?,
                    "jsonl" => {
                        for d in ingest::read_jsonl_annotated(&name, f) {
                            emit(d?)?;
                        }
                    }
                    "csv" => {
                        let opts = CsvOptions { id_column: id_column.clone(), ..CsvOptions::new(text_column.clone()) };
                        for d in ingest::read_csv(&name, f, &opts)? {
                            emit(d?.into())?;
                        }
                    }
                    "bioc" => {
                        for d in ingest::read_bioc(&name, f) {
                            emit(d?)?;
                        }
                    }
                    "labelstudio" => {
                        export::labelstudio::import(&name, f, None, &mut emit)?;
                    }
                    other => bail!("--format: {other:?} is not one of txt, jsonl, csv, bioc, labelstudio"),
                }
            }
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

// -- bench -----------------------------------------------------------------------------

/// The medspaCy runner, embedded so the bench works from any directory.
const MEDSPACY_SCRIPT: &str = include_str!("../../../ci/testdata/text_medspacy.py");

fn venv_python() -> PathBuf {
    let root = std::env::var_os("CLINLABEL_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/clinlabel-testdata"));
    root.join("venv-text/bin/python")
}

fn medspacy(python: &Path, set: &[eval::Labelled]) -> anyhow::Result<(Vec<Assertion>, f64)> {
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("text_medspacy.py");
    std::fs::write(&script, MEDSPACY_SCRIPT)?;
    let mut child = std::process::Command::new(python)
        .arg(&script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", python.display()))?;
    let mut input = String::new();
    for l in set {
        input.push_str(&serde_json::json!({"id": l.id, "text": l.text, "start": l.start, "end": l.end}).to_string());
        input.push('\n');
    }
    let mut stdin = child.stdin.take().expect("piped");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output()?;
    writer.join().map_err(|_| anyhow!("writer thread"))??;
    if !out.status.success() {
        bail!("medspaCy failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let mut pred = Vec::new();
    for line in String::from_utf8(out.stdout)?.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        pred.push(Assertion::parse(v["assertion"].as_str().unwrap_or("")).ok_or_else(|| anyhow!("medspaCy answered {line}"))?);
    }
    let secs = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|v| v["seconds"].as_f64())
        .unwrap_or(f64::NAN);
    if pred.len() != set.len() {
        bail!("medspaCy answered {} of {} targets", pred.len(), set.len());
    }
    Ok((pred, secs))
}

fn print_scores(title: &str, set: &[eval::Labelled], ours: &[Assertion], theirs: Option<&[Assertion]>) {
    let gold: Vec<Assertion> = set.iter().map(|l| l.gold).collect();
    let (a, acc_a) = eval::score(&gold, ours);
    let b = theirs.map(|t| eval::score(&gold, t));
    println!("\n{title}: {} targets", set.len());
    println!("{:<15} {:>7}   {:>9} {:>9} {:>9}   {:>9} {:>9} {:>9}", "class", "support", "ours P", "ours R", "ours F1", "medspaCy P", "R", "F1");
    for c in &a {
        let m = b.as_ref().and_then(|(v, _)| v.iter().find(|x| x.class == c.class));
        let f = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.3}"));
        println!(
            "{:<15} {:>7}   {:>9.3} {:>9.3} {:>9.3}   {:>10} {:>9} {:>9}",
            c.class.as_str(),
            c.support,
            c.precision,
            c.recall,
            c.f1,
            f(m.map(|m| m.precision)),
            f(m.map(|m| m.recall)),
            f(m.map(|m| m.f1))
        );
    }
    match b {
        Some((_, acc_b)) => println!("accuracy: ours {acc_a:.3}, medspaCy {acc_b:.3}"),
        None => println!("accuracy: ours {acc_a:.3}"),
    }
}

/// A reproducible generated lexicon and text (xorshift), for throughput only.
fn generated(n_terms: usize, bytes: usize) -> (Vec<Term>, Vec<String>) {
    let mut x: u64 = 0x9E3779B97F4A7C15;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    const SYL: &[&str] = &["car", "di", "o", "my", "pa", "thy", "neu", "ro", "gas", "tri", "tis", "hep", "a", "to", "ma", "re", "nal", "pul", "mo", "nary", "en", "ce", "pha", "lo", "os", "te", "ar", "thri", "cy", "st"];
    let word = |r: &mut dyn FnMut() -> u64| -> String { (0..2 + r() % 3).map(|_| SYL[(r() % SYL.len() as u64) as usize]).collect() };
    let vocab: Vec<String> = (0..20_000).map(|_| word(&mut rnd)).collect();
    let terms: Vec<Term> = (0..n_terms)
        .map(|i| {
            let n = 1 + rnd() % 4;
            let t: Vec<&str> = (0..n).map(|_| vocab[(rnd() % vocab.len() as u64) as usize].as_str()).collect();
            Term::new(t.join(" "), "disease", Some(Code { system: "gen".into(), code: format!("G{i}"), display: None, version: None }))
        })
        .collect();
    const CUES: &[&str] = &["No", "denies", "history of", "possible", "mother had", "if", "without", "but"];
    let mut docs = Vec::new();
    let mut total = 0;
    while total < bytes {
        let mut d = String::with_capacity(10_000);
        while d.len() < 10_000 {
            let r = rnd() % 10;
            if r < 2 {
                d.push_str(&terms[(rnd() % terms.len() as u64) as usize].term);
            } else if r < 3 {
                d.push_str(CUES[(rnd() % CUES.len() as u64) as usize]);
            } else {
                d.push_str(&vocab[(rnd() % vocab.len() as u64) as usize]);
            }
            d.push_str(if rnd() % 12 == 0 { ". " } else if rnd() % 40 == 0 { ".\r\n" } else { " " });
        }
        total += d.len();
        docs.push(d);
    }
    (terms, docs)
}

#[derive(Debug, clap::Args)]
pub struct BenchTextArgs {
    /// Labelled set in clinlabel's format (assertion<TAB>sentence with [[target]]); default: the shipped set.
    #[arg(long)]
    sentences: Option<PathBuf>,
    /// The NegEx/ConText test kit (rsAnnotations-1-120-random.txt, chapmanbe/negex on GitHub), if you have it.
    #[arg(long)]
    negex: Option<PathBuf>,
    /// Skip medspaCy.
    #[arg(long)]
    no_medspacy: bool,
    /// Python with medspaCy 1.3.1 [default: the venv of ci/testdata/text.sh].
    #[arg(long)]
    python: Option<PathBuf>,
    /// Dictionary size for the throughput run (generated terms).
    #[arg(long, default_value_t = 100_000)]
    terms: usize,
    /// Use a bundled code system's descriptions (icd10cm) instead of generated terms.
    #[arg(long)]
    system: Option<String>,
    /// Megabytes of text for the throughput run.
    #[arg(long, default_value_t = 20)]
    mb: usize,
}

pub fn bench(a: BenchTextArgs) -> anyhow::Result<ExitCode> {
    let ctx = ConText::default();
    let python = a.python.clone().unwrap_or_else(venv_python);
    let mut sets: Vec<(String, Vec<eval::Labelled>)> = Vec::new();
    let own = match &a.sentences {
        Some(p) => (p.display().to_string(), std::fs::read_to_string(p).with_context(|| format!("--sentences: cannot read {}", p.display()))?),
        None => ("assertion_sentences.tsv".to_string(), clinlabel_text::eval::SHIPPED_SET.to_string()),
    };
    sets.push((format!("labelled set {} (clinlabel, self-labelled)", own.0), eval::parse_marked(&own.0, &own.1).map_err(|e| anyhow!(e))?));
    if let Some(p) = &a.negex {
        let text = String::from_utf8_lossy(&std::fs::read(p).with_context(|| format!("--negex: cannot read {}", p.display()))?).into_owned();
        let (rows, skipped) = eval::parse_negex("negex", &text);
        sets.push((format!("NegEx/ConText test kit {} ({skipped} rows skipped: condition not in sentence)", p.display()), rows));
    }
    for (title, set) in &sets {
        let t0 = Instant::now();
        let ours: Vec<Assertion> = set.iter().map(|l| ctx.assertion(&l.text, l.start, l.end)).collect();
        let ours_s = t0.elapsed().as_secs_f64();
        let theirs = if a.no_medspacy {
            None
        } else if !python.exists() {
            println!("medspaCy: {} not found — run `bash ci/testdata/text.sh` (or pass --python, or --no-medspacy)", python.display());
            None
        } else {
            Some(medspacy(&python, set)?)
        };
        print_scores(title, set, &ours, theirs.as_ref().map(|(p, _)| p.as_slice()));
        match &theirs {
            Some((_, s)) => println!("time: ours {:.1} ms, medspaCy {:.1} ms (ConText incl. sentence splitting)", ours_s * 1e3, s * 1e3),
            None => println!("time: ours {:.1} ms", ours_s * 1e3),
        }
    }

    // Throughput.
    let bytes = a.mb << 20;
    let (terms, docs) = match &a.system {
        Some(s) => {
            let terms = load_terms(&None, &Some(s.clone()), "disease")?;
            // Text built from the system's own descriptions and filler, so matches happen.
            let (_, mut docs) = generated(1000, bytes);
            for (i, d) in docs.iter_mut().enumerate() {
                for k in 0..40 {
                    let t = &terms[(i * 7919 + k * 104729) % terms.len()].term;
                    d.push_str(". No ");
                    d.push_str(t);
                }
            }
            (terms, docs)
        }
        None => generated(a.terms, bytes),
    };
    let n_terms = terms.len();
    let t0 = Instant::now();
    let m = Matcher::new(terms);
    let build = t0.elapsed().as_secs_f64();
    let total: usize = docs.iter().map(String::len).sum();
    let mb = total as f64 / (1 << 20) as f64;
    let t0 = Instant::now();
    let mut found = 0usize;
    for d in &docs {
        found += m.find(d).len();
    }
    let match_s = t0.elapsed().as_secs_f64();
    let p = Preannotator::new(Some(m), ctx);
    let t0 = Instant::now();
    let mut asserted = 0usize;
    for (i, d) in docs.iter().enumerate() {
        let mut doc = AnnotatedDocument::new(i.to_string(), d.clone());
        p.suggest(&mut doc);
        asserted += doc.spans.len();
    }
    let full_s = t0.elapsed().as_secs_f64();
    println!(
        "\npre-annotation throughput ({} dictionary terms, {} distinct after normalisation; automaton built in {:.2} s; {:.1} MB in {} documents of ~10 kB):",
        n_terms,
        p.matcher.as_ref().map_or(0, |m| m.len()),
        build,
        mb,
        docs.len()
    );
    println!("  dictionary matching: {:.1} MB/s ({found} matches)", mb / match_s);
    println!("  matching + sentences + ConText assertion: {:.1} MB/s ({asserted} suggested spans)", mb / full_s);
    Ok(ExitCode::SUCCESS)
}
