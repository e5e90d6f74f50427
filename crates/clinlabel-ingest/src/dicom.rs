//! DICOM at ingest: each accepted `.dcm` (or extension-less DICOM Part 10
//! file in an image project) is parsed under `clinlabel-dicom`'s memory
//! limits and de-identified (PS3.15 Annex E Basic Profile, the project's
//! date option, UIDs remapped with the project's secret so one original UID
//! always becomes the same new one) **before** it is kept: the file's blob
//! is replaced by the de-identified file and the original blob is deleted,
//! so nothing identifying is stored past ingest and every path that serves
//! the item (content, frames) serves de-identified bytes.
//!
//! The instance then joins its series' item (`files::record_file` →
//! `dicom_series`): one item per series, whichever upload brought each
//! instance. A file that is not DICOM, is truncated, uses a transfer syntax
//! clinlabel cannot decode, or carries no image is rejected with the reason;
//! the rest of the upload continues.
//!
//! Memory: a file is held whole while parsed (original, parsed object and
//! output: about three times its size), at most
//! [`crate::Limits::max_dicom_file`] bytes, and at most
//! [`crate::Limits::dicom_parallel`] files at once across all uploads.

use bytes::Bytes;
use clinlabel_crypto::DataKey;
use clinlabel_dicom::{DateOption, DeidOptions};
use clinlabel_domain::project::DicomDates;
use clinlabel_store::StoreError;
use clinlabel_store::files::{NewDicomInstance, UploadTarget};

use crate::{Ingest, blob_err};

/// The data-key scope whose key is the project's de-identification secret.
fn secret_scope(project_id: &str) -> String {
    format!("deid:{project_id}")
}

/// The project's date shift for the Modified Dates option: 1 to 3,650 days
/// back, fixed by the project's secret (so intervals within the project stay
/// true and the shift itself is not guessable).
pub fn shift_days(secret: &[u8]) -> i32 {
    let tag = ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret), b"clinlabel date shift");
    let v = u32::from_be_bytes(tag.as_ref()[..4].try_into().expect("4 bytes"));
    -((v % 3650) as i32 + 1)
}

/// The process-wide slots for DICOM files held in memory (an `Ingest` is
/// made per request, so the bound lives here).
fn slots(n: usize) -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| tokio::sync::Semaphore::new(n.max(1)))
}

/// A de-identified instance, stored in its own blob.
pub(crate) struct Deidentified {
    pub blob_id: String,
    pub instance: NewDicomInstance,
}

impl Ingest {
    /// De-identifies the DICOM file stored in `blob_id` (`size` bytes) into
    /// a new blob. `Ok(Err(reason))` rejects the file.
    pub(crate) async fn deidentify_stored(
        &self,
        key: &DataKey,
        target: &UploadTarget,
        name: &str,
        blob_id: &str,
        size: u64,
    ) -> Result<Result<Deidentified, String>, StoreError> {
        let max = self.limits.max_dicom_file;
        if size > max {
            return Ok(Err(format!(
                "limit_exceeded: the DICOM file is {size} bytes; one file may be at most {max} bytes"
            )));
        }
        let _permit = slots(self.limits.dicom_parallel)
            .acquire()
            .await
            .map_err(|_| StoreError::Internal("DICOM slots closed".into()))?;
        let bytes = self.blobs.get_bytes(key, blob_id).await.map_err(blob_err)?;
        let secret = self.key(&secret_scope(&target.project_id)).await?.to_bytes();
        let dates = match target.deidentification.dates {
            DicomDates::Remove => DateOption::Remove,
            DicomDates::Shift => DateOption::Shift { days: shift_days(&secret) },
            DicomDates::Keep => DateOption::Keep,
        };
        let mut opts = DeidOptions::new(&secret, dates);
        opts.limits.max_file_bytes = max;
        let name = name.to_string();
        let done = tokio::task::spawn_blocking(move || deidentify(&bytes, &opts, &name))
            .await
            .map_err(|e| StoreError::Internal(format!("de-identification task: {e}")))?;
        let (out, instance) = match done {
            Ok(v) => v,
            Err(reason) => return Ok(Err(reason)),
        };
        let new_blob = format!("file-{}", clinlabel_store::db::new_id());
        self.blobs.put_bytes(key, &new_blob, Bytes::from(out)).await.map_err(blob_err)?;
        Ok(Ok(Deidentified { blob_id: new_blob, instance }))
    }
}

/// Parses, checks and de-identifies one file: the new file's bytes and what
/// the series needs to know, or the reason it is refused.
fn deidentify(bytes: &[u8], opts: &DeidOptions, name: &str) -> Result<(Vec<u8>, NewDicomInstance), String> {
    let reason = |e: clinlabel_dicom::DicomError| format!("{}: {e}", e.code());
    let (out, report) = clinlabel_dicom::deidentify_bytes(bytes, opts, name).map_err(reason)?;
    let file = clinlabel_dicom::open_bytes(&out, &opts.limits).map_err(reason)?;
    let meta = clinlabel_dicom::image_meta(&file);
    if !meta.has_pixel_data || meta.frames == 0 || meta.rows == 0 || meta.columns == 0 {
        return Err(format!(
            "no_pixel_data: the DICOM object ({}) holds no image to annotate",
            meta.sop_class_uid.as_deref().unwrap_or("unknown SOP class")
        ));
    }
    clinlabel_dicom::pixels::check_decodable(&meta.transfer_syntax).map_err(reason)?;
    let (Some(study_uid), Some(series_uid)) = (meta.study_instance_uid.clone(), meta.series_instance_uid.clone()) else {
        return Err("malformed: the file has no Study or Series Instance UID".into());
    };
    let mut report_json = serde_json::to_value(&report).map_err(|e| e.to_string())?;
    // The report names the upload's file: keep that out of the stored report
    // (the file row holds the name, as PHI).
    report_json["input"] = serde_json::Value::Null;
    let instance = NewDicomInstance {
        study_uid,
        series_uid,
        sop_uid: meta.sop_instance_uid.clone(),
        modality: meta.modality.clone(),
        series_number: meta.series_number,
        frames: meta.frames as i64,
        stored_size: out.len() as i64,
        meta: serde_json::to_value(&meta).map_err(|e| e.to_string())?,
        deid_report: report_json,
        burned_in: report.burned_in.as_ref().map(|b| b.reason.clone()),
    };
    Ok((out, instance))
}

#[cfg(test)]
mod tests {
    use super::shift_days;

    #[test]
    fn the_date_shift_is_fixed_by_the_secret_and_goes_back_up_to_ten_years() {
        let a = shift_days(b"project one secret");
        assert_eq!(a, shift_days(b"project one secret"));
        assert!((-3650..=-1).contains(&a), "{a}");
        let spread: std::collections::HashSet<i32> =
            (0..50u8).map(|i| shift_days(&[i; 32])).collect();
        assert!(spread.len() > 40, "shifts should differ between projects: {spread:?}");
    }
}
