//! The units × coders reliability table, with missing values.
//!
//! Values are interned as category indices into a sorted domain: numeric domains
//! are sorted numerically, label domains lexicographically (byte order, as
//! `numpy.unique` and scikit-learn do) unless an explicit order is declared.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;

/// Sentinel for a missing cell.
pub const MISSING: u32 = u32::MAX;

/// The category domain of a table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "values", rename_all = "snake_case")]
pub enum Categories {
    /// Numeric values, strictly increasing.
    Numeric(Vec<f64>),
    /// Labels, in their declared or lexicographic order.
    Labels(Vec<String>),
}

impl Categories {
    pub fn len(&self) -> usize {
        match self {
            Categories::Numeric(v) => v.len(),
            Categories::Labels(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn numeric(&self) -> Option<&[f64]> {
        match self {
            Categories::Numeric(v) => Some(v),
            Categories::Labels(_) => None,
        }
    }
    pub fn label(&self, i: usize) -> String {
        match self {
            Categories::Numeric(v) => format_num(v[i]),
            Categories::Labels(v) => v[i].clone(),
        }
    }
}

pub(crate) fn format_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// Errors building a table.
#[derive(Clone, Debug, PartialEq)]
pub enum TableError {
    /// Rows of different lengths: unit index, its length, the expected length.
    RaggedRow {
        unit: usize,
        len: usize,
        expected: usize,
    },
    /// A NaN or infinite numeric value at (unit, coder).
    NonFinite { unit: usize, coder: usize },
    /// A value that is not in the declared domain.
    OutOfDomain {
        unit: usize,
        coder: usize,
        value: String,
    },
    /// The same (unit, coder) pair given twice with different values.
    Duplicate { unit: String, coder: String },
    /// Too many distinct categories (more than u32::MAX - 1).
    TooManyCategories,
    /// A declared domain with a repeated entry.
    DuplicateCategory(String),
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableError::RaggedRow {
                unit,
                len,
                expected,
            } => {
                write!(f, "unit {unit} has {len} values, expected {expected}")
            }
            TableError::NonFinite { unit, coder } => {
                write!(f, "non-finite value at unit {unit}, coder {coder}")
            }
            TableError::OutOfDomain { unit, coder, value } => {
                write!(
                    f,
                    "value {value:?} at unit {unit}, coder {coder} is not in the declared categories"
                )
            }
            TableError::Duplicate { unit, coder } => {
                write!(
                    f,
                    "unit {unit:?} coded twice by coder {coder:?} with different values"
                )
            }
            TableError::TooManyCategories => write!(f, "too many distinct categories"),
            TableError::DuplicateCategory(c) => write!(f, "category {c:?} declared twice"),
        }
    }
}
impl std::error::Error for TableError {}

/// A units × coders table of category indices (row-major by unit), `MISSING` for
/// an absent value.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    n_units: usize,
    n_coders: usize,
    cells: Vec<u32>,
    categories: Categories,
}

impl Table {
    /// Build from numeric rows (one row per unit, one column per coder, `None` = missing).
    pub fn from_numeric<R: AsRef<[Option<f64>]>>(rows: &[R]) -> Result<Table, TableError> {
        let n_coders = rows.first().map_or(0, |r| r.as_ref().len());
        let mut flat = Vec::with_capacity(rows.len() * n_coders);
        for (u, r) in rows.iter().enumerate() {
            let r = r.as_ref();
            if r.len() != n_coders {
                return Err(TableError::RaggedRow {
                    unit: u,
                    len: r.len(),
                    expected: n_coders,
                });
            }
            for (c, v) in r.iter().enumerate() {
                match v {
                    Some(x) if !x.is_finite() => {
                        return Err(TableError::NonFinite { unit: u, coder: c });
                    }
                    Some(x) => flat.push(*x),
                    None => flat.push(f64::NAN),
                }
            }
        }
        Self::from_numeric_nan(rows.len(), n_coders, &flat)
    }

    /// Build from a flat unit-major slice of `n_units * n_coders` numbers where NaN
    /// marks a missing value (infinities are rejected). Panics if
    /// `flat.len() != n_units * n_coders`.
    pub fn from_numeric_nan(
        n_units: usize,
        n_coders: usize,
        flat: &[f64],
    ) -> Result<Table, TableError> {
        assert_eq!(
            flat.len(),
            n_units * n_coders,
            "flat length must be n_units * n_coders"
        );
        let mut interner = Interner::default();
        let mut cells = Vec::with_capacity(flat.len());
        for (i, &x) in flat.iter().enumerate() {
            let id = interner.intern(x).ok_or(TableError::NonFinite {
                unit: i / n_coders.max(1),
                coder: i % n_coders.max(1),
            })?;
            cells.push(id);
        }
        interner.finish(n_units, n_coders, cells)
    }

    /// Build from coder-major data as `krippendorff.alpha(reliability_data=...)`
    /// takes it: `data[coder][unit]`, NaN = missing.
    pub fn from_reliability_data<R: AsRef<[f64]>>(data: &[R]) -> Result<Table, TableError> {
        let n_coders = data.len();
        let n_units = data.first().map_or(0, |r| r.as_ref().len());
        let mut cells = vec![MISSING; n_units * n_coders];
        let mut interner = Interner::default();
        let cols: Vec<&[f64]> = data.iter().map(|r| r.as_ref()).collect();
        for (c, r) in cols.iter().enumerate() {
            if r.len() != n_units {
                return Err(TableError::RaggedRow {
                    unit: c,
                    len: r.len(),
                    expected: n_units,
                });
            }
        }
        // Unit-major traversal: sequential writes, one sequential read stream per coder.
        for (u, row) in cells.chunks_exact_mut(n_coders.max(1)).enumerate() {
            for (c, cell) in row.iter_mut().enumerate() {
                *cell = interner
                    .intern(cols[c][u])
                    .ok_or(TableError::NonFinite { unit: u, coder: c })?;
            }
        }
        interner.finish(n_units, n_coders, cells)
    }

    /// Build from label rows; the domain is the sorted set of labels seen.
    pub fn from_labels<S: AsRef<str>, R: AsRef<[Option<S>]>>(
        rows: &[R],
    ) -> Result<Table, TableError> {
        Self::labels_inner(rows, None)
    }

    /// Build from label rows with a declared, ordered domain (used for the order of
    /// ordinal levels and weights, and for `q` in Randolph's κ and Gwet's AC1).
    pub fn from_labels_with_domain<S: AsRef<str>, R: AsRef<[Option<S>]>>(
        rows: &[R],
        domain: &[&str],
    ) -> Result<Table, TableError> {
        Self::labels_inner(rows, Some(domain))
    }

    fn labels_inner<S: AsRef<str>, R: AsRef<[Option<S>]>>(
        rows: &[R],
        domain: Option<&[&str]>,
    ) -> Result<Table, TableError> {
        let n_coders = rows.first().map_or(0, |r| r.as_ref().len());
        let mut labels: Vec<String> = match domain {
            Some(d) => d.iter().map(|s| s.to_string()).collect(),
            None => {
                let mut all: Vec<String> = rows
                    .iter()
                    .flat_map(|r| r.as_ref().iter().flatten().map(|s| s.as_ref().to_string()))
                    .collect();
                all.sort();
                all.dedup();
                all
            }
        };
        let mut index: HashMap<&str, u32> = HashMap::new();
        for (i, l) in labels.iter().enumerate() {
            if index.insert(l.as_str(), i as u32).is_some() {
                return Err(TableError::DuplicateCategory(l.clone()));
            }
        }
        let mut cells = Vec::with_capacity(rows.len() * n_coders);
        for (u, r) in rows.iter().enumerate() {
            let r = r.as_ref();
            if r.len() != n_coders {
                return Err(TableError::RaggedRow {
                    unit: u,
                    len: r.len(),
                    expected: n_coders,
                });
            }
            for (c, v) in r.iter().enumerate() {
                match v {
                    None => cells.push(MISSING),
                    Some(s) => match index.get(s.as_ref()) {
                        Some(&i) => cells.push(i),
                        None => {
                            return Err(TableError::OutOfDomain {
                                unit: u,
                                coder: c,
                                value: s.as_ref().to_string(),
                            });
                        }
                    },
                }
            }
        }
        drop(index);
        labels.shrink_to_fit();
        Ok(Table {
            n_units: rows.len(),
            n_coders,
            cells,
            categories: Categories::Labels(labels),
        })
    }

    /// Build from category indices directly (unit-major), validating them.
    /// Panics if `cells.len() != n_units * n_coders`.
    pub fn from_codes(
        n_units: usize,
        n_coders: usize,
        cells: Vec<u32>,
        categories: Categories,
    ) -> Result<Table, TableError> {
        assert_eq!(
            cells.len(),
            n_units * n_coders,
            "cells length must be n_units * n_coders"
        );
        let k = categories.len() as u32;
        for (i, &c) in cells.iter().enumerate() {
            if c != MISSING && c >= k {
                return Err(TableError::OutOfDomain {
                    unit: i / n_coders,
                    coder: i % n_coders,
                    value: c.to_string(),
                });
            }
        }
        Ok(Table {
            n_units,
            n_coders,
            cells,
            categories,
        })
    }

    pub fn n_units(&self) -> usize {
        self.n_units
    }
    pub fn n_coders(&self) -> usize {
        self.n_coders
    }
    pub fn categories(&self) -> &Categories {
        &self.categories
    }
    pub fn n_categories(&self) -> usize {
        self.categories.len()
    }
    /// The category index at (unit, coder), `None` when missing.
    pub fn get(&self, unit: usize, coder: usize) -> Option<u32> {
        let v = self.cells[unit * self.n_coders + coder];
        (v != MISSING).then_some(v)
    }
    /// One unit's row of category indices (`MISSING` for absent).
    pub fn row(&self, unit: usize) -> &[u32] {
        &self.cells[unit * self.n_coders..(unit + 1) * self.n_coders]
    }
    pub(crate) fn cells(&self) -> &[u32] {
        &self.cells
    }
    /// Number of non-missing values.
    pub fn n_values(&self) -> usize {
        self.cells.iter().filter(|&&c| c != MISSING).count()
    }
    /// A table made of the given units (with repetition), same coders and domain.
    pub fn select_units(&self, units: &[usize]) -> Table {
        let mut cells = Vec::with_capacity(units.len() * self.n_coders);
        for &u in units {
            cells.extend_from_slice(self.row(u));
        }
        Table {
            n_units: units.len(),
            n_coders: self.n_coders,
            cells,
            categories: self.categories.clone(),
        }
    }
    /// The two-coder table of coders `a` and `b`.
    pub fn coder_pair(&self, a: usize, b: usize) -> Table {
        let mut cells = Vec::with_capacity(self.n_units * 2);
        for u in 0..self.n_units {
            let r = self.row(u);
            cells.push(r[a]);
            cells.push(r[b]);
        }
        Table {
            n_units: self.n_units,
            n_coders: 2,
            cells,
            categories: self.categories.clone(),
        }
    }
}

/// Interns f64 values into category ids (first-seen order), then sorts the domain.
pub(crate) struct Interner {
    domain: Vec<f64>,
    index: HashMap<u64, u32>,
    /// Direct lookup for the integers 0..256 (rating scales): id or MISSING.
    small: [u32; 256],
}

impl Default for Interner {
    fn default() -> Self {
        Interner {
            domain: Vec::new(),
            index: HashMap::new(),
            small: [MISSING; 256],
        }
    }
}

impl Interner {
    /// The id of `x`, `MISSING` for NaN, `None` for an infinity.
    #[inline]
    pub(crate) fn intern(&mut self, x: f64) -> Option<u32> {
        // Fast path: small non-negative integers (rating scales). The saturating
        // cast maps NaN to 0, which the equality test then rejects; −0.0 maps to 0.
        let i = x as u32 as usize;
        if i < 256 && i as f64 == x {
            let id = self.small[i];
            if id != MISSING {
                return Some(id);
            }
            let id = self.insert_new(x);
            self.small[i] = id;
            return Some(id);
        }
        if x.is_nan() {
            return Some(MISSING);
        }
        if x.is_infinite() {
            return None;
        }
        let x = if x == 0.0 { 0.0 } else { x }; // fold -0.0
        let bits = x.to_bits();
        // Small domains (the usual rating scales) are searched linearly, which is
        // several times faster than hashing; large ones go through the map.
        let id = if self.domain.len() <= 16 {
            match self.domain.iter().position(|&d| d.to_bits() == bits) {
                Some(p) => p as u32,
                None => {
                    self.domain.push(x);
                    if self.domain.len() > 16 {
                        for (i, d) in self.domain.iter().enumerate() {
                            self.index.insert(d.to_bits(), i as u32);
                        }
                    }
                    (self.domain.len() - 1) as u32
                }
            }
        } else {
            let next = self.domain.len() as u32;
            let domain = &mut self.domain;
            *self.index.entry(bits).or_insert_with(|| {
                domain.push(x);
                next
            })
        };
        Some(id)
    }

    pub(crate) fn len(&self) -> usize {
        self.domain.len()
    }
    /// The interned values, indexed by id (first-seen order).
    pub(crate) fn values(&self) -> &[f64] {
        &self.domain
    }

    #[cold]
    fn insert_new(&mut self, x: f64) -> u32 {
        let x = if x == 0.0 { 0.0 } else { x };
        let bits = x.to_bits();
        if let Some(&id) = self.index.get(&bits) {
            return id;
        }
        if let Some(p) = self.domain.iter().position(|&d| d.to_bits() == bits) {
            return p as u32;
        }
        self.domain.push(x);
        let id = (self.domain.len() - 1) as u32;
        if self.domain.len() > 16 {
            if self.index.is_empty() {
                for (i, d) in self.domain.iter().enumerate() {
                    self.index.insert(d.to_bits(), i as u32);
                }
            } else {
                self.index.insert(bits, id);
            }
        }
        id
    }

    fn finish(
        self,
        n_units: usize,
        n_coders: usize,
        mut cells: Vec<u32>,
    ) -> Result<Table, TableError> {
        let domain = self.domain;
        if domain.len() >= MISSING as usize {
            return Err(TableError::TooManyCategories);
        }
        let mut order: Vec<u32> = (0..domain.len() as u32).collect();
        order.sort_by(|&a, &b| domain[a as usize].total_cmp(&domain[b as usize]));
        if order.iter().enumerate().any(|(i, &o)| i as u32 != o) {
            let mut remap = vec![0u32; domain.len()];
            for (new, &old) in order.iter().enumerate() {
                remap[old as usize] = new as u32;
            }
            for c in cells.iter_mut() {
                if *c != MISSING {
                    *c = remap[*c as usize];
                }
            }
        }
        let sorted: Vec<f64> = order.iter().map(|&o| domain[o as usize]).collect();
        Ok(Table {
            n_units,
            n_coders,
            cells,
            categories: Categories::Numeric(sorted),
        })
    }
}
