//! Vectors for `ldouble.rs`, produced by a C program on x86-64 glibc that runs Redis's
//! `string2ld`, adds in `long double`, and formats with Redis's `LD_STR_HUMAN` trimming.

use super::*;

enum Arg {
    Lit(&'static str),
    /// prefix, repeated unit, count, suffix
    Rep(&'static str, &'static str, usize, &'static str),
}

impl Arg {
    fn text(&self) -> String {
        match self {
            Arg::Lit(s) => (*s).to_string(),
            Arg::Rep(p, u, n, s) => format!("{p}{}{s}", u.repeat(*n)),
        }
    }
}

enum Want {
    Exact(&'static str),
    /// prefix, total length, suffix (for results thousands of digits long)
    Long(&'static str, usize, &'static str),
    NotFloat,
    NanInf,
}

/// What INCRBYFLOAT computes for `value + incr`, or why it refuses.
fn incr(value: &str, by: &str) -> Result<String, &'static str> {
    let (Some(a), Some(b)) = (parse(value.as_bytes()), parse(by.as_bytes())) else {
        return Err("notfloat");
    };
    match (a, b) {
        (Parsed::Finite(a), Parsed::Finite(b)) => add(a, b).map(to_human).ok_or("naninf"),
        _ => Err("naninf"),
    }
}

const VECTORS: &[(Arg, Arg, Want)] = &[
    (Arg::Lit("0"), Arg::Lit("1"), Want::Exact("1")),
    (Arg::Lit("1"), Arg::Lit("0.25"), Want::Exact("1.25")),
    (Arg::Lit("1.5"), Arg::Lit("1.5"), Want::Exact("3")),
    (
        Arg::Lit("17179869184"),
        Arg::Lit("1.5"),
        Want::Exact("17179869185.5"),
    ),
    (
        Arg::Lit("17179869184"),
        Arg::Lit("17179869184"),
        Want::Exact("34359738368"),
    ),
    (Arg::Lit("10.50"), Arg::Lit("0.1"), Want::Exact("10.6")),
    (Arg::Lit("10.6"), Arg::Lit("-5"), Want::Exact("5.6")),
    (Arg::Lit("5.0e3"), Arg::Lit("2.0e2"), Want::Exact("5200")),
    (Arg::Lit("0.1"), Arg::Lit("0.2"), Want::Exact("0.3")),
    (Arg::Lit(" 11"), Arg::Lit("1"), Want::NotFloat),
    (Arg::Lit("11 "), Arg::Lit("1"), Want::NotFloat),
    (Arg::Lit("1"), Arg::Lit("+inf"), Want::NanInf),
    (Arg::Lit("1"), Arg::Lit("-inf"), Want::NanInf),
    (Arg::Lit("inf"), Arg::Lit("-inf"), Want::NanInf),
    (Arg::Lit("nan"), Arg::Lit("1"), Want::NotFloat),
    (
        Arg::Lit("0"),
        Arg::Lit("0.024390243902439025"),
        Want::Exact("0.02439024390243902"),
    ),
    (
        Arg::Lit("0.024390243902439025"),
        Arg::Lit("-0.024390243902439025"),
        Want::Exact("0"),
    ),
    (
        Arg::Lit("1e30"),
        Arg::Lit("0"),
        Want::Exact("1000000000000000000024696061952"),
    ),
    (
        Arg::Lit("1e300"),
        Arg::Lit("1e300"),
        Want::Long(
            "2000000000000000000017994648159118387741",
            301,
            "80178849830208012288",
        ),
    ),
    (Arg::Lit("1e4932"), Arg::Lit("1e4932"), Want::NanInf),
    (
        Arg::Lit("1.18973149535723176502e+4932"),
        Arg::Lit("0"),
        Want::Long(
            "1189731495357231765021263853030970205169",
            4933,
            "19552086811989770240",
        ),
    ),
    (Arg::Lit("1e-4950"), Arg::Lit("0"), Want::Exact("0")),
    (Arg::Lit("1e-5000"), Arg::Lit("0"), Want::NotFloat),
    (Arg::Lit("0x1p-16445"), Arg::Lit("0"), Want::Exact("0")),
    (Arg::Lit("0x1.8p1"), Arg::Lit("0"), Want::Exact("3")),
    (Arg::Lit("0x.8"), Arg::Lit("0"), Want::Exact("0.5")),
    (Arg::Lit("0x"), Arg::Lit("0"), Want::NotFloat),
    (Arg::Lit("0xg"), Arg::Lit("0"), Want::NotFloat),
    (Arg::Lit("1e"), Arg::Lit("1"), Want::NotFloat),
    (Arg::Lit("1e+"), Arg::Lit("1"), Want::NotFloat),
    (Arg::Lit(".5"), Arg::Lit(".5"), Want::Exact("1")),
    (Arg::Lit("5."), Arg::Lit("1"), Want::Exact("6")),
    (Arg::Lit("."), Arg::Lit("1"), Want::NotFloat),
    (Arg::Lit("-0"), Arg::Lit("0"), Want::Exact("0")),
    (Arg::Lit("-0"), Arg::Lit("-0"), Want::Exact("0")),
    (Arg::Lit("3.0"), Arg::Lit("-3.0"), Want::Exact("0")),
    (
        Arg::Lit("1e-17"),
        Arg::Lit("0"),
        Want::Exact("0.00000000000000001"),
    ),
    (Arg::Lit("-1e-18"), Arg::Lit("0"), Want::Exact("0")),
    (
        Arg::Lit("0.000000000000000005"),
        Arg::Lit("0"),
        Want::Exact("0"),
    ),
    (
        Arg::Lit("0.000000000000000015"),
        Arg::Lit("0"),
        Want::Exact("0.00000000000000002"),
    ),
    (
        Arg::Lit("0.000000000000000025"),
        Arg::Lit("0"),
        Want::Exact("0.00000000000000002"),
    ),
    (Arg::Lit("0.125"), Arg::Lit("0"), Want::Exact("0.125")),
    (
        Arg::Lit("12345678901234567890"),
        Arg::Lit("1"),
        Want::Exact("12345678901234567891"),
    ),
    (
        Arg::Lit("9223372036854775807"),
        Arg::Lit("1"),
        Want::Exact("9223372036854775808"),
    ),
    (
        Arg::Lit("1e20"),
        Arg::Lit("0.5"),
        Want::Exact("100000000000000000000"),
    ),
    (
        Arg::Lit("123456789.123456789"),
        Arg::Lit("0"),
        Want::Exact("123456789.12345678899873747"),
    ),
    (
        Arg::Lit("3.14159265358979323846264338327950288"),
        Arg::Lit("0"),
        Want::Exact("3.14159265358979324"),
    ),
    (
        Arg::Lit("1e-10"),
        Arg::Lit("1e-10"),
        Want::Exact("0.0000000002"),
    ),
    (
        Arg::Lit("2.5e-17"),
        Arg::Lit("0"),
        Want::Exact("0.00000000000000002"),
    ),
    (
        Arg::Lit("0.1234567890123456789012345"),
        Arg::Lit("0"),
        Want::Exact("0.12345678901234568"),
    ),
    (Arg::Lit("-5.5"), Arg::Lit("2"), Want::Exact("-3.5")),
    (Arg::Lit("1e18"), Arg::Lit("-1e18"), Want::Exact("0")),
    (Arg::Lit("infinity"), Arg::Lit("0"), Want::NanInf),
    (Arg::Lit("INF"), Arg::Lit("0"), Want::NanInf),
    (Arg::Lit("Infinity"), Arg::Lit("0"), Want::NanInf),
    (Arg::Lit("infinit"), Arg::Lit("0"), Want::NotFloat),
    (Arg::Lit("nan(123)"), Arg::Lit("0"), Want::NotFloat),
    (Arg::Lit("1_000"), Arg::Lit("0"), Want::NotFloat),
    (Arg::Lit("0x1P+3"), Arg::Lit("0"), Want::Exact("8")),
    (Arg::Lit("0X1p3"), Arg::Lit("0"), Want::Exact("8")),
    (Arg::Lit("1E3"), Arg::Lit("0"), Want::Exact("1000")),
    (Arg::Lit("+.5e-1"), Arg::Lit("0"), Want::Exact("0.05")),
    (Arg::Lit("-.e1"), Arg::Lit("0"), Want::NotFloat),
    (Arg::Lit("00001.5000"), Arg::Lit("0"), Want::Exact("1.5")),
    (
        Arg::Rep("", "9", 400, ""),
        Arg::Lit("0"),
        Want::Long(
            "1000000000000000000028188068394758651458",
            401,
            "43732497430221946880",
        ),
    ),
    (
        Arg::Lit("0.0000000000000000000000000000001"),
        Arg::Lit("0"),
        Want::Exact("0"),
    ),
    (
        Arg::Rep("1", "0", 4932, ""),
        Arg::Lit("0"),
        Want::Long(
            "1000000000000000000006018949387963891323",
            4933,
            "38418113791886622720",
        ),
    ),
    (Arg::Rep("1", "0", 4933, ""), Arg::Lit("0"), Want::NotFloat),
    (Arg::Lit("0x1p16383"), Arg::Lit("0x1p16383"), Want::NanInf),
    (
        Arg::Lit("0x1p16383"),
        Arg::Lit("0"),
        Want::Long(
            "5948657476786158825428796633140035653817",
            4932,
            "23513645334982033408",
        ),
    ),
    (
        Arg::Lit("0x1.fffffffffffffffep16383"),
        Arg::Lit("0"),
        Want::Long(
            "1189731495357231765021263853030970205169",
            4933,
            "19552086811989770240",
        ),
    ),
    (
        Arg::Lit("0x1.ffffffffffffffffp16383"),
        Arg::Lit("0"),
        Want::NotFloat,
    ),
    (Arg::Lit("1e-4951"), Arg::Lit("0"), Want::NotFloat),
    (Arg::Lit("3e-4951"), Arg::Lit("0"), Want::Exact("0")),
    (Arg::Lit("4e-4951"), Arg::Lit("0"), Want::Exact("0")),
    (Arg::Lit("1e-4940"), Arg::Lit("1e-4940"), Want::Exact("0")),
    (
        Arg::Lit("1.0000000000000000000000001"),
        Arg::Lit("0"),
        Want::Exact("1"),
    ),
    (
        Arg::Lit("1.00000000000000000005"),
        Arg::Lit("0"),
        Want::Exact("1"),
    ),
    (
        Arg::Lit("1.00000000000000000006"),
        Arg::Lit("0"),
        Want::Exact("1"),
    ),
    (
        Arg::Lit("18446744073709551615"),
        Arg::Lit("0"),
        Want::Exact("18446744073709551615"),
    ),
    (
        Arg::Lit("18446744073709551617"),
        Arg::Lit("0"),
        Want::Exact("18446744073709551616"),
    ),
    (
        Arg::Lit("36893488147419103233"),
        Arg::Lit("0"),
        Want::Exact("36893488147419103232"),
    ),
    (
        Arg::Lit("36893488147419103231"),
        Arg::Lit("0"),
        Want::Exact("36893488147419103232"),
    ),
    (
        Arg::Lit("-1.5"),
        Arg::Lit("1.4999999999999999999"),
        Want::Exact("0"),
    ),
    (
        Arg::Lit("100"),
        Arg::Lit("-100.0000000000000000001"),
        Want::Exact("0"),
    ),
    (Arg::Lit("0.5"), Arg::Lit("0.3"), Want::Exact("0.8")),
    (Arg::Lit("2"), Arg::Lit("0.1"), Want::Exact("2.1")),
    (Arg::Lit("1.1"), Arg::Lit("2.2"), Want::Exact("3.3")),
    (Arg::Lit("7"), Arg::Lit("1e-20"), Want::Exact("7")),
    (
        Arg::Lit("0"),
        Arg::Lit("1e-16"),
        Want::Exact("0.0000000000000001"),
    ),
    (
        Arg::Lit("0"),
        Arg::Lit("-9.99999999999999999e-18"),
        Want::Exact("-0.00000000000000001"),
    ),
    (Arg::Lit("1e+10"), Arg::Lit("0"), Want::Exact("10000000000")),
    (
        Arg::Lit("1.7976931348623157e308"),
        Arg::Lit("1.7976931348623157e308"),
        Want::Long(
            "3595386269724631399918420935482088680967",
            309,
            "53604933726679072768",
        ),
    ),
    (Arg::Lit("5e-324"), Arg::Lit("0"), Want::Exact("0")),
    (
        Arg::Lit("0e99999999999999999999"),
        Arg::Lit("0"),
        Want::Exact("0"),
    ),
    (
        Arg::Lit("1e99999999999999999999"),
        Arg::Lit("0"),
        Want::NotFloat,
    ),
    (
        Arg::Lit("1e-99999999999999999999"),
        Arg::Lit("0"),
        Want::NotFloat,
    ),
    (Arg::Lit("0x0p99999999"), Arg::Lit("1"), Want::Exact("1")),
    (
        Arg::Rep("1", "0", 100, "e-100"),
        Arg::Lit("0"),
        Want::Exact("1"),
    ),
    (Arg::Lit("-0.0"), Arg::Lit("0.0"), Want::Exact("0")),
    (Arg::Lit("123abc"), Arg::Lit("0"), Want::NotFloat),
    (Arg::Lit("1.5e+3"), Arg::Lit("-1500"), Want::Exact("0")),
    (
        Arg::Lit("0.30000000000000004"),
        Arg::Lit("0"),
        Want::Exact("0.30000000000000004"),
    ),
    (
        Arg::Lit("99999999999999999999.99999999999999999"),
        Arg::Lit("0"),
        Want::Exact("100000000000000000000"),
    ),
];

#[test]
fn matches_x87_long_double_vectors() {
    for (a, b, want) in VECTORS {
        let (a, b) = (a.text(), b.text());
        let got = incr(&a, &b);
        let label = format!("{:.40} + {:.40}", a, b);
        match want {
            Want::Exact(w) => assert_eq!(got.as_deref(), Ok(*w), "{label}"),
            Want::Long(prefix, len, suffix) => {
                let g = got.unwrap_or_default();
                assert!(
                    g.starts_with(prefix) && g.ends_with(suffix),
                    "{label}: {g:.60}"
                );
                assert_eq!(g.len(), *len, "{label}");
            }
            Want::NotFloat => assert_eq!(got, Err("notfloat"), "{label}"),
            Want::NanInf => assert_eq!(got, Err("naninf"), "{label}"),
        }
    }
}

#[test]
fn overlong_input_is_rejected() {
    let long = format!("0.{}", "1".repeat(5 * 1024 - 2));
    assert_eq!(parse(long.as_bytes()), None);
    assert!(parse(&long.as_bytes()[..long.len() - 1]).is_some());
}
