//! Unit tests of the failure codes: their string forms, the clip each names, the reply classes.

use super::*;

#[test]
fn string_forms() {
    let id = || "abc".to_string();
    assert_eq!(Failure::DatasetSchemaInvalid.to_string(), "dataset_schema_invalid");
    assert_eq!(
        Failure::IncompatibleSpecVersion {
            spec_id: "video_v1".into(),
            protocol: "1.0.0".into(),
            schema: "2.0.0".into()
        }
        .to_string(),
        "incompatible_spec_version:video_v1:protocol=1.0.0:schema=2.0.0"
    );
    assert_eq!(
        Failure::OverlapLt5s { source: "s".into(), earlier: "a".into(), later: "b".into() }.to_string(),
        "overlap_lt_5s:s:a:b"
    );
    assert_eq!(
        Failure::InvalidResolution { clip_id: id(), width: 854, height: 480 }.to_string(),
        "invalid_resolution:abc:854x480"
    );
    assert_eq!(
        Failure::ClipMetadataMismatch { clip_id: id(), field: MediaField::Fps }.to_string(),
        "clip_metadata_mismatch:abc:fps"
    );
    assert_eq!(Failure::ClipStartGt5000 { clip_id: id() }.to_string(), "clip_start_gt_5000:abc");
    assert_eq!(Failure::SourceFrameMismatch { clip_id: id() }.to_string(), "source_frame_mismatch:abc");
    assert_eq!(Failure::SourceUnavailable { clip_id: id() }.to_string(), "source_unavailable:abc");
    assert_eq!(Failure::SourceFrameDegraded { clip_id: id() }.to_string(), "source_frame_degraded:abc");
    assert_eq!(
        Failure::DuplicateContent { clip_id: id(), matched: "def".into() }.to_string(),
        "duplicate_content:abc:def"
    );
    assert_eq!(serde_json::to_string(&Failure::DuplicateClip { clip_id: id() }).unwrap(), "\"duplicate_clip:abc\"");
}

#[test]
fn every_row_failure_names_its_clip() {
    let degraded = Failure::SourceFrameDegraded { clip_id: "a".into() };
    let duplicate = Failure::DuplicateContent { clip_id: "b".into(), matched: "c".into() };
    assert_eq!((degraded.clip_id(), duplicate.clip_id()), (Some("a"), Some("b")));
    assert_eq!(Failure::LateSubmission.clip_id(), None);
}

#[test]
fn unusable_reply_codes() {
    let f = Failure::CaptionSemanticResponseInvalid { clip_id: "abc".into() };
    assert_eq!(f.to_string(), "caption_semantic_response_invalid:abc");
    assert!(f.is_unusable_reply());
    assert!(Failure::CategoryStrictResponseInvalid { clip_id: "abc".into() }.is_unusable_reply());
    assert!(!Failure::CaptionSemanticMismatch { clip_id: "abc".into() }.is_unusable_reply());
}
