//! Synthetic CT slices for benchmarks (`clinlabel bench dicom-ingest`): a
//! valid explicit-VR little-endian CT Image Storage file with patient
//! identity, UIDs and geometry, and a 16-bit pixel pattern that varies per
//! slice (so no two files hash alike).

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};

use crate::{DicomError, Result};

const CT_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.2";
const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";

/// Slice `index` of a `rows` × `columns` CT series `series` (a made-up
/// patient, 1 mm slices along +z).
pub fn ct_slice(series: u32, index: u32, rows: u16, columns: u16) -> Result<Vec<u8>> {
    let study = format!("1.2.826.0.1.3680043.10.1234.1.{series}");
    let series_uid = format!("1.2.826.0.1.3680043.10.1234.2.{series}");
    let sop = format!("1.2.826.0.1.3680043.10.1234.3.{series}.{index}");
    let n = rows as usize * columns as usize;
    let mut px = Vec::with_capacity(n * 2);
    for i in 0..n {
        let (r, c) = (i / columns as usize, i % columns as usize);
        let v = ((r * 7 + c * 3 + index as usize * 11) % 2000) as i16 - 1000;
        px.extend_from_slice(&v.to_le_bytes());
    }
    let s = |tag, vr, v: String| DataElement::new(tag, vr, PrimitiveValue::from(v));
    let obj = InMemDicomObject::from_element_iter([
        s(tags::SOP_CLASS_UID, VR::UI, CT_IMAGE_STORAGE.into()),
        s(tags::SOP_INSTANCE_UID, VR::UI, sop.clone()),
        s(tags::STUDY_DATE, VR::DA, "20240117".into()),
        s(tags::MODALITY, VR::CS, "CT".into()),
        s(tags::PATIENT_NAME, VR::PN, "BENCH^SYNTHETIC".into()),
        s(tags::PATIENT_ID, VR::LO, "BENCH-0001".into()),
        s(tags::PATIENT_BIRTH_DATE, VR::DA, "19600101".into()),
        s(tags::STUDY_INSTANCE_UID, VR::UI, study),
        s(tags::SERIES_INSTANCE_UID, VR::UI, series_uid),
        s(tags::SERIES_NUMBER, VR::IS, series.to_string()),
        s(tags::INSTANCE_NUMBER, VR::IS, (index + 1).to_string()),
        s(tags::IMAGE_POSITION_PATIENT, VR::DS, format!("-250\\-250\\{index}")),
        s(tags::IMAGE_ORIENTATION_PATIENT, VR::DS, "1\\0\\0\\0\\1\\0".into()),
        s(tags::FRAME_OF_REFERENCE_UID, VR::UI, format!("1.2.826.0.1.3680043.10.1234.4.{series}")),
        s(tags::SLICE_THICKNESS, VR::DS, "1".into()),
        DataElement::new(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16)),
        s(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2".into()),
        DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(rows)),
        DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(columns)),
        s(tags::PIXEL_SPACING, VR::DS, "0.7\\0.7".into()),
        DataElement::new(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16)),
        DataElement::new(tags::BITS_STORED, VR::US, PrimitiveValue::from(16u16)),
        DataElement::new(tags::HIGH_BIT, VR::US, PrimitiveValue::from(15u16)),
        DataElement::new(tags::PIXEL_REPRESENTATION, VR::US, PrimitiveValue::from(1u16)),
        s(tags::WINDOW_CENTER, VR::DS, "40".into()),
        s(tags::WINDOW_WIDTH, VR::DS, "400".into()),
        s(tags::RESCALE_INTERCEPT, VR::DS, "0".into()),
        s(tags::RESCALE_SLOPE, VR::DS, "1".into()),
        DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::from(px)),
    ]);
    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .media_storage_sop_class_uid(CT_IMAGE_STORAGE)
                .media_storage_sop_instance_uid(sop)
                .transfer_syntax(EXPLICIT_VR_LE),
        )
        .map_err(|e| DicomError::Write(e.to_string()))?;
    let mut out = Vec::with_capacity(n * 2 + 2048);
    file.write_all(&mut out).map_err(|e| DicomError::Write(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_synthetic_slice_parses_and_decodes() {
        let bytes = super::ct_slice(3, 7, 64, 32).unwrap();
        let f = crate::open_bytes(&bytes, &crate::Limits::default()).unwrap();
        let m = crate::image_meta(&f);
        assert_eq!((m.rows, m.columns, m.frames, m.instance_number), (64, 32, 1, Some(8)));
        assert_eq!(m.frame.image_position, Some([-250.0, -250.0, 7.0]));
        let frame = crate::decode_frame(&f, &m, 0).unwrap();
        assert_eq!(frame.sample(0), ((7 * 11) % 2000) as i64 - 1000);
    }
}
