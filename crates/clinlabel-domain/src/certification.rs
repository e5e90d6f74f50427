//! Specialist tracks and certifications: who may work on what.
//!
//! invariant: a certification's effective status is derived from its stored
//! status and its expiry at the time of asking; nothing needs to run at
//! midnight for an expired certification to stop counting.

use serde::{Deserialize, Serialize};

/// The status a certification has right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CertificationStatus {
    Active,
    Suspended,
    Expired,
}

impl CertificationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CertificationStatus::Active => "active",
            CertificationStatus::Suspended => "suspended",
            CertificationStatus::Expired => "expired",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(CertificationStatus::Active),
            "suspended" => Some(CertificationStatus::Suspended),
            "expired" => Some(CertificationStatus::Expired),
            _ => None,
        }
    }

    /// The effective status of a stored certification at `now` (epoch ms):
    /// an active one past its expiry is expired; a suspension outlives expiry.
    pub fn effective(stored: CertificationStatus, expires_at: i64, now: i64) -> CertificationStatus {
        match stored {
            CertificationStatus::Active if expires_at <= now => CertificationStatus::Expired,
            other => other,
        }
    }
}

/// A track slug: lower-case letters, digits and hyphens, 2–40 characters,
/// starting with a letter (e.g. `neuroradiology`, `clinical-coding`).
pub fn slug_acceptable(slug: &str) -> bool {
    let n = slug.len();
    (2..=40).contains(&n)
        && slug.starts_with(|c: char| c.is_ascii_lowercase())
        && slug.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !slug.ends_with('-')
}

/// The tracks a fresh installation offers (the admin can add and retire tracks).
pub const DEFAULT_TRACKS: &[(&str, &str, &str)] = &[
    ("radiology", "Radiology", "Image annotation of CT, MR, X-ray and ultrasound studies."),
    ("neuroradiology", "Neuroradiology", "Brain and spine imaging."),
    ("pathology", "Pathology", "Histopathology and cytology."),
    ("cardiology", "Cardiology", "ECG, echocardiography and cardiac imaging."),
    ("oncology", "Oncology", "Tumour findings, staging and biomarkers."),
    ("clinical-coding", "Clinical coding", "ICD-10-CM/PCS, CPT, HCPCS, SNOMED CT, LOINC, RxNorm code assignment."),
    ("clinical-nlp", "Clinical NLP", "Entities, relations and assertion status in clinical text."),
    ("pharmacovigilance", "Pharmacovigilance", "Adverse events and MedDRA normalisation."),
    ("genomics", "Genomics", "Variant classification (ACMG/AMP) and biomarker relevance."),
    ("speech", "Speech", "Clinical transcription and speaker diarisation."),
    ("ai-safety-review", "AI safety review", "Preference ranking and safety labels for model responses."),
];

#[cfg(test)]
mod tests {
    use super::*;
    use CertificationStatus::*;

    #[test]
    fn expiry_turns_active_into_expired_but_not_suspended() {
        assert_eq!(CertificationStatus::effective(Active, 100, 99), Active);
        assert_eq!(CertificationStatus::effective(Active, 100, 100), Expired);
        assert_eq!(CertificationStatus::effective(Suspended, 100, 200), Suspended);
    }

    #[test]
    fn slugs() {
        for ok in ["radiology", "clinical-coding", "ai2"] {
            assert!(slug_acceptable(ok), "{ok}");
        }
        for bad in ["", "a", "Radiology", "2d", "ends-", "has space", "../x", &"x".repeat(41)] {
            assert!(!slug_acceptable(bad), "{bad}");
        }
        assert!(DEFAULT_TRACKS.iter().all(|t| slug_acceptable(t.0)));
    }
}
