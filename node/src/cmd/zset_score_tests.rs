//! Tests of score parsing (both of Redis's `strtod` flavours), printing and the stored order.

use proptest::prelude::*;

use super::*;
use crate::reply::format_score;

#[test]
fn scores_parse_like_string2d() {
    let ok: &[(&str, f64)] = &[
        ("1", 1.0),
        ("-1.5", -1.5),
        ("+2", 2.0),
        (".5", 0.5),
        ("5.", 5.0),
        ("1e3", 1000.0),
        ("1E-2", 0.01),
        ("0x10", 16.0),
        ("0X1p-2", 0.25),
        ("0x.8", 0.5),
        ("-0x1.8p1", -3.0),
        ("inf", f64::INFINITY),
        ("+inf", f64::INFINITY),
        ("-Inf", f64::NEG_INFINITY),
        ("INFINITY", f64::INFINITY),
        ("-0", 0.0),
        ("4e-320", 4e-320),
        ("1.7976931348623157e308", f64::MAX),
        ("0e999999999999999999999", 0.0),
    ];
    for (text, want) in ok {
        assert_eq!(parse_score(text.as_bytes()), Some(*want), "{text}");
    }
    for bad in [
        "", " 1", "1 ", "abc", "nan", "-nan", "NaN(1)", "1e400", "-1e400", "1e-400", "1e", "0x",
        "1.2.3", "--1", "inf1", "1\0", "\t1", "infinit",
    ] {
        assert_eq!(parse_score(bad.as_bytes()), None, "{bad:?}");
    }
    // "1e" is "1" followed by garbage, "infinit" is "inf" followed by garbage.
    assert_eq!(strtod(b"1e").len, 1);
    assert_eq!(strtod(b"infinit").len, 3);
    assert_eq!(strtod(b"0x").len, 1);
    assert_eq!(strtod(b"nan(abc_1)x").len, 10);
}

#[test]
fn range_bounds_parse_like_zsl_parse_range() {
    let ok: &[(&str, f64, bool)] = &[
        ("1", 1.0, false),
        ("(1", 1.0, true),
        ("", 0.0, false),
        ("(", 0.0, true),
        (" 1", 1.0, false),
        ("1e400", f64::INFINITY, false),
        ("(-1e400", f64::NEG_INFINITY, true),
        ("0x2", 2.0, false),
        ("1\0garbage", 1.0, false),
        ("-inf", f64::NEG_INFINITY, false),
    ];
    for (text, value, ex) in ok {
        assert_eq!(
            parse_score_bound(text.as_bytes()),
            Some((*value, *ex)),
            "{text:?}"
        );
    }
    for bad in ["1 ", "a", "nan", "((1", "[1", " ", "1e5x"] {
        assert_eq!(parse_score_bound(bad.as_bytes()), None, "{bad:?}");
    }
}

#[test]
fn long_and_extreme_decimals_round_correctly() {
    let long = format!("0.{}1", "0".repeat(2000));
    assert_eq!(parse_score(long.as_bytes()), None, "underflows to zero");
    let many = format!("1.{}1", "0".repeat(2000));
    assert_eq!(parse_score(many.as_bytes()), Some(1.0));
    // Just above the halfway point between 1 and the next double: the sticky digit decides.
    let half_up = format!(
        "1.00000000000000011102230246251565404236316680908203125{}1",
        "0".repeat(900)
    );
    assert_eq!(parse_score(half_up.as_bytes()), Some(1.0000000000000002));
    assert_eq!(parse_score(b"2.4703282292062328e-324"), Some(5e-324));
    assert_eq!(parse_score(b"2.4703282292062327e-324"), None);
    assert_eq!(parse_score(b"0x1p-1074"), Some(5e-324));
    assert_eq!(parse_score(b"0x1p-1076"), None);
    assert_eq!(
        parse_score(b"0x1.fffffffffffff8p1023"),
        None,
        "rounds up to inf"
    );
    assert_eq!(parse_score(b"0x1.fffffffffffff7p1023"), Some(f64::MAX));
    assert_eq!(
        parse_score(b"0x123456789abcdef0123p0"),
        Some(0x0123_4567_89ab_cdef_0123_u128 as f64)
    );
}

#[test]
fn scores_print_like_percent_17g() {
    let cases: &[(f64, &str)] = &[
        (1.1, "1.1000000000000001"),
        (0.1, "0.10000000000000001"),
        (1e-5, "1.0000000000000001e-05"),
        (1e-4, "0.0001"),
        (0.0001234, "0.00012339999999999999"),
        (1e17, "1e+17"),
        (1e16, "10000000000000000"),
        (12345678901234568.0, "12345678901234568"),
        (1.5e300, "1.5000000000000001e+300"),
        (5e-324, "4.9406564584124654e-324"),
        (f64::MAX, "1.7976931348623157e+308"),
        (-2.5, "-2.5"),
        (3.0, "3"),
        (0.0, "0"),
        (-0.0, "-0"),
        (0.3, "0.29999999999999999"),
        (-1e-10, "-1e-10"),
        (4e-320, "3.999955468730732e-320"),
        (f64::INFINITY, "inf"),
        (f64::NEG_INFINITY, "-inf"),
    ];
    for (d, want) in cases {
        assert_eq!(format_score(*d), *want, "{d:e}");
    }
}

#[test]
fn stored_order_is_numeric_order() {
    let values = [
        f64::NEG_INFINITY,
        -f64::MAX,
        -1.5,
        -5e-324,
        0.0,
        5e-324,
        1.0,
        f64::MAX,
        f64::INFINITY,
    ];
    for w in values.windows(2) {
        assert!(sortable(w[0]) < sortable(w[1]), "{} < {}", w[0], w[1]);
    }
    for v in values {
        assert_eq!(from_sortable(sortable(v)), v);
    }
    assert_eq!(sortable(-0.0), sortable(0.0));
    assert!(from_sortable(sortable(-0.0)).is_sign_positive());
    let k = index_key(&sortable(2.5), b"m");
    assert_eq!(split_index_key(&k).ok(), Some((2.5, &b"m"[..])));
    assert!(split_index_key(b"short").is_err());
    assert!(decode(b"1234567").is_err());
}

proptest! {
    #[test]
    fn printed_scores_parse_back_exactly(bits in any::<u64>()) {
        let d = f64::from_bits(bits);
        prop_assume!(!d.is_nan());
        let text = format_score(d);
        prop_assert_eq!(parse_score(text.as_bytes()).map(f64::to_bits), Some(d.to_bits()));
    }

    #[test]
    fn decimal_parsing_matches_rust_for_plain_numbers(m in any::<i64>(), e in -330i32..310) {
        let text = format!("{m}e{e}");
        let want: f64 = text.parse().expect("rust parses it");
        let got = parse_score(text.as_bytes());
        if want.is_infinite() || (want == 0.0 && m != 0) {
            prop_assert_eq!(got, None);
        } else {
            prop_assert_eq!(got, Some(want));
        }
    }

    #[test]
    fn sortable_preserves_order(a in any::<f64>(), b in any::<f64>()) {
        prop_assume!(!a.is_nan() && !b.is_nan());
        prop_assert_eq!(a.partial_cmp(&b), sortable(a).partial_cmp(&sortable(b)));
    }
}
