//! The published message contract, docs/schema/reading-1.json, checked by an independent
//! validator (Python's `jsonschema`, pinned, installed by scripts/test into .tools/): every
//! reading meteo publishes passes it, every poison record fails it, except those breaking a
//! rule only the consumer enforces, which the schema's description names.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::fake_owm::{Answer, DtModel, FakeOwm};
use crate::harness::read_all;
use crate::poison::corpus;
use crate::util::{meteo, reading, repo, run, temp_dir};

/// The version scripts/test installs; METEO_JSONSCHEMA names another folder.
pub const JSONSCHEMA: &str = ".tools/jsonschema-4.25.1";

/// The schema file, from the repository root.
const SCHEMA: &str = "docs/schema/reading-1.json";

/// Reads `label<TAB>hex of the value` lines (no hex: no value); prints `label<TAB>ok` or
/// `label<TAB>invalid<TAB>first reason`. The schema itself is checked against draft 2020-12
/// first.
const VALIDATE: &str = r#"
import json, sys
from jsonschema import Draft202012Validator
schema = json.load(open(sys.argv[1], encoding="utf-8"))
Draft202012Validator.check_schema(schema)
validator = Draft202012Validator(schema)
for line in sys.stdin:
    label, _, data = line.rstrip("\n").partition("\t")
    try:
        value = json.loads(bytes.fromhex(data).decode("utf-8"))
    except ValueError as e:
        print("%s\tinvalid\tnot JSON: %s" % (label, str(e)[:60]))
        continue
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        where = "/".join(str(p) for p in e.absolute_path) or "(the value)"
        print("%s\tinvalid\t%s: %s" % (label, where, e.message[:120].encode("ascii", "backslashreplace").decode()))
    else:
        print("%s\tok" % label)
"#;

fn jsonschema_dir() -> PathBuf {
    let dir = std::env::var("METEO_JSONSCHEMA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo().join(JSONSCHEMA));
    assert!(
        dir.join("jsonschema").is_dir() && dir.join("rpds").is_dir(),
        "Python's jsonschema is not in {} (scripts/test installs it with its pinned dependencies)",
        dir.display()
    );
    dir
}

/// Each (label, value) through the validator in one process: label to `Ok(())` or the first
/// reason it gives.
fn validate(values: &[(String, Option<Vec<u8>>)]) -> BTreeMap<String, Result<(), String>> {
    let mut child = Command::new("python3")
        // -S: only the pinned packages, not whatever the machine's site-packages hold.
        .args(["-S", "-c", VALIDATE])
        .arg(repo().join(SCHEMA))
        .env("PYTHONPATH", jsonschema_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running python3");
    let mut input = String::new();
    for (label, value) in values {
        let hex: String = value.iter().flatten().map(|b| format!("{b:02x}")).collect();
        input.push_str(&format!("{label}\t{hex}\n"));
    }
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "the validator failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: BTreeMap<String, Result<(), String>> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let mut parts = line.splitn(3, '\t');
            let label = parts.next().unwrap().to_string();
            let verdict = match parts.next() {
                Some("ok") => Ok(()),
                _ => Err(parts.next().unwrap_or_default().to_string()),
            };
            (label, verdict)
        })
        .collect();
    assert_eq!(results.len(), values.len(), "one verdict per value");
    results
}

/// A city list of `n` cities from `first_id` on, names from the project's French list with a
/// number, accents and hyphens included.
fn city_list(first_id: i64, n: usize) -> PathBuf {
    let names = crate::harness::french_cities(100);
    let entries: Vec<Value> = (0..n)
        .map(|i| {
            let (_, name, _, _) = &names[i % names.len()];
            json!({
                "id": first_id + i as i64,
                "name": format!("{name} {i}"),
                "country": "FR",
                // The whole globe, poles and date line included.
                "lat": -90.0 + (i % 181) as f64,
                "lon": -180.0 + (i * 7 % 361) as f64,
            })
        })
        .collect();
    let path = temp_dir("schema").join(format!("cities-{first_id}.json"));
    std::fs::write(&path, serde_json::to_vec(&entries).unwrap()).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_published_readings_pass_the_published_schema() {
    let topic = crate::produce::fresh_topic().await;
    // 500 synthetic readings.
    let synthetic = city_list(7_000_000, 500);
    let mut cmd = meteo();
    cmd.args([
        "--topic",
        &topic,
        "produce",
        "--once",
        "--source",
        "synthetic",
    ])
    .arg("--cities")
    .arg(&synthetic);
    run(cmd).assert_ok();
    // 500 from the fake API, in its three shapes of answer.
    let fake = FakeOwm::start(DtModel::Fixed(1795895400));
    let api = city_list(8_000_000, 498);
    for i in 0..498 {
        let answer = if i % 2 == 0 {
            Answer::Full
        } else {
            Answer::Varying
        };
        fake.script(8_000_000 + i, &format!("Ville {i}"), vec![answer]);
    }
    let mut entries: Vec<Value> = serde_json::from_slice(&std::fs::read(&api).unwrap()).unwrap();
    fake.script(2996944, "Lyon", vec![Answer::Lenient]);
    fake.script(2980291, "Saint-Étienne", vec![Answer::Accents]);
    entries
        .push(json!({"id": 2996944, "name": "Lyon", "country": "FR", "lat": 45.75, "lon": 4.85}));
    entries.push(
        json!({"id": 2980291, "name": "Saint-Étienne", "country": "FR", "lat": 45.43, "lon": 4.39}),
    );
    std::fs::write(&api, serde_json::to_vec(&entries).unwrap()).unwrap();
    let mut cmd = meteo();
    cmd.env("OWM_API_KEY", crate::produce::KEY)
        .args([
            "--topic",
            &topic,
            "produce",
            "--once",
            "--api-url",
            &fake.url(),
        ])
        .args(["--rate", "100000", "--api-timeout", "5s"])
        .arg("--cities")
        .arg(&api);
    run(cmd).assert_ok();

    let records = read_all(&topic);
    assert_eq!(records.len(), 1000, "published readings");
    let values: Vec<(String, Option<Vec<u8>>)> = records
        .iter()
        .map(|r| (format!("{}@{}", r.partition, r.offset), r.value.clone()))
        .collect();
    let sources: BTreeSet<String> = records
        .iter()
        .filter_map(|r| serde_json::from_slice::<Value>(r.value.as_deref()?).ok())
        .filter_map(|v| v["source"].as_str().map(str::to_string))
        .collect();
    assert_eq!(sources, BTreeSet::from(["owm".into(), "synthetic".into()]));
    let refused: Vec<String> = validate(&values)
        .into_iter()
        .filter_map(|(label, verdict)| verdict.err().map(|e| format!("{label}: {e}")))
        .collect();
    assert!(
        refused.is_empty(),
        "{} of 1000 published readings break the schema:\n{}",
        refused.len(),
        refused.join("\n")
    );
}

/// The poison records the schema accepts, and the rule only the consumer enforces that each
/// breaks (the schema's description lists them).
const CONSUMER_ONLY: [(&str, &str); 3] = [
    ("no key", "the message key is the city id in decimal"),
    (
        "the key of another city",
        "the message key is the city id in decimal",
    ),
    (
        "observed_at in the year 3000",
        "at most 10 minutes ahead of the consumer's clock",
    ),
];

#[test]
fn every_poison_record_breaks_the_schema_or_a_rule_only_the_consumer_enforces() {
    let poison = corpus(&reading(7, 0));
    let values: Vec<(String, Option<Vec<u8>>)> = poison
        .iter()
        .enumerate()
        .map(|(i, p)| (format!("{i:02} {}", p.what), p.record.1.clone()))
        .collect();
    let description = std::fs::read_to_string(repo().join(SCHEMA)).unwrap();
    let consumer_only: BTreeMap<&str, &str> = CONSUMER_ONLY.into_iter().collect();
    let mut accepted = BTreeSet::new();
    for (label, verdict) in validate(&values) {
        let what = label.split_once(' ').unwrap().1.to_string();
        match verdict {
            Ok(()) => {
                let rule = consumer_only.get(what.as_str()).unwrap_or_else(|| {
                    panic!(
                        "the schema accepts the poison record {label}, which the consumer refuses"
                    )
                });
                assert!(
                    description.contains(rule),
                    "the schema's description does not name the rule {rule:?}"
                );
                println!("accepted by the schema, refused by the consumer only: {what}: {rule}");
                accepted.insert(what);
            }
            Err(reason) => println!("refused by the schema: {label}: {reason}"),
        }
    }
    let expected: BTreeSet<String> = consumer_only.keys().map(|k| k.to_string()).collect();
    assert_eq!(
        accepted, expected,
        "the rules only the consumer enforces are exactly these"
    );
}

#[test]
fn the_schema_text_rule_is_the_consumers_code_point_by_code_point() {
    // Every code point of the ranges where the rule has exceptions, alone between letters and
    // at the start: the consumer's verdict and the schema's must agree.
    let code_points = (0..=0x700)
        .chain(0x1100..=0x1200)
        .chain(0x1650..=0x1900)
        .chain(0x1FF0..=0x2100)
        .chain(0x2FF0..=0x3200)
        .chain(0xFDF0..=0xFFFF)
        .chain(0x1BC9F..=0x1BCA4)
        .chain(0x1D172..=0x1D17B)
        .chain(0xDFFFF..=0xE1000)
        .chain([0x1F600, 0x10FFFF])
        .filter_map(char::from_u32);
    let mut texts = Vec::new();
    for c in code_points {
        texts.push(format!("a{c}b"));
        texts.push(format!("{c}a"));
    }
    texts.extend(["a  b", " a", "a ", "a b", ""].map(String::from));
    texts.push("é".repeat(200));
    texts.push("é".repeat(201));
    let base = reading(7, 0);
    let mut consumer = Vec::new();
    let values: Vec<(String, Option<Vec<u8>>)> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let mut r = base.clone();
            r.city_name = text.clone();
            consumer.push(r.validate().is_ok());
            (i.to_string(), Some(serde_json::to_vec(&r).unwrap()))
        })
        .collect();
    let verdicts = validate(&values);
    let disagreements: Vec<String> = texts
        .iter()
        .enumerate()
        .filter(|(i, _)| verdicts[&i.to_string()].is_ok() != consumer[*i])
        .map(|(i, text)| {
            format!(
                "{}: consumer {}, schema {}",
                text.escape_unicode(),
                if consumer[i] { "accepts" } else { "refuses" },
                if verdicts[&i.to_string()].is_ok() {
                    "accepts"
                } else {
                    "refuses"
                },
            )
        })
        .collect();
    assert!(
        disagreements.is_empty(),
        "{} texts judged differently:\n{}",
        disagreements.len(),
        disagreements
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        consumer.iter().filter(|ok| !**ok).count() > 1000,
        "the sample holds refused texts"
    );
}
