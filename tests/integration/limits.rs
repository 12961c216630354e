//! Files meteo is given, end to end: a device, a pipe or a file over its size limit is refused
//! at once with one line naming the file, instead of being read until memory runs out.

use std::time::Duration;

use crate::util::{meteo, run, temp_dir};

/// Each way of handing meteo a file, with `/dev/zero` (endless) and a file one byte over the
/// limit: one error line naming the file and why, well before a read of /dev/zero would end.
#[test]
fn endless_or_oversized_files_are_refused_at_once_naming_the_file() {
    let dir = temp_dir("limits");
    let big = |name: &str, limit: usize| {
        let path = dir.join(name);
        std::fs::write(&path, "#".repeat(limit + 1)).unwrap();
        path.to_string_lossy().into_owned()
    };
    let password = big("password", 4096);
    let kafka = big("kafka.properties", 1024 * 1024);
    let ca = big("ca.pem", 1024 * 1024);
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "CASSANDRA_PASSWORD_FILE",
            "/dev/zero".into(),
            "is not a regular file",
        ),
        (
            "CASSANDRA_PASSWORD_FILE",
            password.clone(),
            "is larger than 4 KiB",
        ),
        (
            "METEO_KAFKA_CONFIG",
            "/dev/zero".into(),
            "is not a regular file",
        ),
        ("METEO_KAFKA_CONFIG", kafka.clone(), "is larger than 1 MiB"),
        ("CASSANDRA_CA", "/dev/zero".into(), "is not a regular file"),
        ("CASSANDRA_CA", ca.clone(), "is larger than 1 MiB"),
    ];
    for (variable, file, why) in cases {
        let mut cmd = meteo();
        cmd.env(variable, &file).arg("migrate");
        if variable == "CASSANDRA_PASSWORD_FILE" {
            cmd.env("CASSANDRA_USER", "cassandra");
        }
        let done = run(cmd);
        let said = format!("{file} {why}");
        assert!(
            done.code.is_some_and(|c| c != 0) && done.stderr.contains(&said),
            "{variable}={file}: expected '{said}'\n{}",
            done.describe()
        );
        assert_eq!(
            done.stderr.lines().filter(|l| l.contains("error")).count(),
            1,
            "{}",
            done.describe()
        );
        assert!(done.took < Duration::from_secs(10), "{}", done.describe());
    }
}
