//! The tolerant physical-type rules of protocol §6: which arrow types each logical
//! column kind accepts.

use arrow_schema::DataType;

use crate::spec::ColumnKind;

fn is_text(dt: &DataType) -> bool {
    match dt {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, value) => matches!(**value, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View),
        _ => false,
    }
}

fn is_integer(dt: &DataType) -> bool {
    dt.is_integer()
}

fn is_float(dt: &DataType) -> bool {
    matches!(dt, DataType::Float16 | DataType::Float32 | DataType::Float64)
}

/// Decimals are read as floats, as the Python validator reads a `Decimal` into a float.
fn is_decimal(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Decimal32(..) | DataType::Decimal64(..) | DataType::Decimal128(..) | DataType::Decimal256(..)
    )
}

/// Whether a column of logical `kind` may be stored as `dt`.
///
/// Integer columns take any integer width, or floats whose values are integral (checked
/// per value). Float columns take float32/float64 and integers (widened exactly, as the
/// reference's lax model does), and decimals. Text must really be text: numbers stored in a text column
/// are refused (stricter). Booleans take bool or 0/1 integers. `source_proof` must be a
/// struct (an all-null column counts as absent); a JSON string or map is refused.
pub fn accepts(kind: ColumnKind, dt: &DataType) -> bool {
    match kind {
        ColumnKind::Text => is_text(dt),
        ColumnKind::Integer => is_integer(dt) || is_float(dt),
        ColumnKind::Float => is_float(dt) || is_integer(dt) || is_decimal(dt),
        ColumnKind::Boolean => matches!(dt, DataType::Boolean) || is_integer(dt),
        ColumnKind::Struct => matches!(dt, DataType::Struct(_) | DataType::Null),
    }
}

/// A short human name for a kind, for error messages.
pub fn kind_name(kind: ColumnKind) -> &'static str {
    match kind {
        ColumnKind::Text => "text",
        ColumnKind::Integer => "integer",
        ColumnKind::Float => "float",
        ColumnKind::Boolean => "boolean",
        ColumnKind::Struct => "struct",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn tolerance_table() {
        let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        for dt in [DataType::Utf8, DataType::LargeUtf8, DataType::Utf8View, dict] {
            assert!(accepts(ColumnKind::Text, &dt), "{dt}");
        }
        for dt in [DataType::Int64, DataType::Float64, DataType::Binary, DataType::Boolean] {
            assert!(!accepts(ColumnKind::Text, &dt), "{dt}");
        }
        for dt in [DataType::Int8, DataType::UInt16, DataType::Int32, DataType::UInt64, DataType::Float32] {
            assert!(accepts(ColumnKind::Integer, &dt), "{dt}");
        }
        assert!(!accepts(ColumnKind::Integer, &DataType::Utf8));
        assert!(accepts(ColumnKind::Float, &DataType::Float32));
        assert!(accepts(ColumnKind::Float, &DataType::Decimal128(6, 3)));
        assert!(!accepts(ColumnKind::Text, &DataType::Decimal128(6, 3)));
        assert!(!accepts(ColumnKind::Boolean, &DataType::Utf8));
        assert!(!accepts(ColumnKind::Float, &DataType::Utf8));
        assert!(accepts(ColumnKind::Boolean, &DataType::Boolean));
        let map = DataType::Map(
            Arc::new(arrow_schema::Field::new(
                "entries",
                DataType::Struct(
                    vec![
                        arrow_schema::Field::new("key", DataType::Utf8, false),
                        arrow_schema::Field::new("value", DataType::Utf8, true),
                    ]
                    .into(),
                ),
                false,
            )),
            false,
        );
        assert!(!accepts(ColumnKind::Struct, &map));
        assert!(!accepts(ColumnKind::Struct, &DataType::Utf8));
        assert!(accepts(ColumnKind::Struct, &DataType::Struct(arrow_schema::Fields::empty())));
    }
}
