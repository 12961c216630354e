//! `meteo migrate` against the real services: what it creates, that a second run is a no-op,
//! and every bad-input and fault case ending in one clear line and the right exit code.

use std::net::TcpListener;

use cdrs_tokio::types::AsRustType;
use std::time::Duration;

use crate::util::{
    copy_cql, drop_keyspace, kafka_settings, meteo, migrated, run, session, temp_dir, unique,
};

#[tokio::test(flavor = "multi_thread")]
async fn migrate_creates_keyspace_tables_and_topics_and_a_second_run_changes_nothing() {
    let (keyspace, topic) = migrated(&["--partitions", "3"]);

    let session = session(None).await;
    let tables = meteo::store::rows(
        meteo::store::query_with_values(
            &session,
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?",
            cdrs_tokio::query_values!(keyspace.as_str()),
        )
        .await
        .unwrap(),
    )
    .unwrap();
    let mut names: Vec<String> = tables
        .iter()
        .map(|r| cdrs_tokio::types::IntoRustByName::get_r_by_name(r, "table_name").unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["city_countries", "latest", "readings", "schema_migrations"]
    );

    let partitions =
        meteo::kafka::topic_partitions(&kafka_settings(&topic), Duration::from_secs(10)).unwrap();
    assert_eq!(partitions.get(&topic), Some(&3));
    assert_eq!(partitions.get(&format!("{topic}.dlq")), Some(&3));

    // Again, with another partition count: nothing changes, and it says so.
    let mut again = meteo();
    again.args([
        "--keyspace",
        &keyspace,
        "--topic",
        &topic,
        "migrate",
        "--partitions",
        "4",
    ]);
    let again = run(again);
    again.assert_ok();
    assert!(
        again.stderr.contains("nothing to do"),
        "{}",
        again.describe()
    );
    assert!(
        again.stderr.contains("another partition count"),
        "{}",
        again.describe()
    );
    let partitions =
        meteo::kafka::topic_partitions(&kafka_settings(&topic), Duration::from_secs(10)).unwrap();
    assert_eq!(partitions.get(&topic), Some(&3));

    let mut status = meteo();
    status.args(["--keyspace", &keyspace, "migrate", "--status"]);
    let status = run(status);
    status.assert_ok();
    assert!(
        status.stdout.contains("applied  001_initial.cql"),
        "{}",
        status.describe()
    );
    assert!(status.stdout.contains("0 pending"), "{}", status.describe());

    drop_keyspace(&keyspace).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_replication_map_is_used_for_the_keyspace() {
    let (keyspace, _) = migrated(&[
        "--replication",
        "{'class': 'NetworkTopologyStrategy', 'datacenter1': 1}",
    ]);
    let session = session(None).await;
    let found = meteo::store::rows(
        meteo::store::query_with_values(
            &session,
            "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?",
            cdrs_tokio::query_values!(keyspace.as_str()),
        )
        .await
        .unwrap(),
    )
    .unwrap();
    let replication: std::collections::HashMap<String, String> =
        cdrs_tokio::types::IntoRustByName::<cdrs_tokio::types::map::Map>::get_r_by_name(
            &found[0],
            "replication",
        )
        .unwrap()
        .as_rust_type()
        .unwrap()
        .unwrap();
    assert!(
        replication["class"].ends_with("NetworkTopologyStrategy"),
        "{replication:?}"
    );
    drop_keyspace(&keyspace).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_applied_file_is_refused_naming_the_file_and_both_checksums() {
    let dir = temp_dir("cql");
    copy_cql(&dir);
    let keyspace = unique("t");
    let migrate = || {
        let mut cmd = meteo();
        cmd.args([
            "--keyspace",
            &keyspace,
            "--topic",
            &keyspace,
            "migrate",
            "--cql-dir",
        ])
        .arg(&dir);
        run(cmd)
    };
    migrate().assert_ok();
    let file = dir.join("001_initial.cql");
    let before = meteo::store::migrations::checksum(&std::fs::read(&file).unwrap());
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("\n-- an innocent-looking edit\n");
    std::fs::write(&file, &text).unwrap();
    let after = meteo::store::migrations::checksum(text.as_bytes());

    migrate().assert_fails_with(&["001_initial.cql", "changed", &before, &after]);
    drop_keyspace(&keyspace).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cql_error_stops_at_that_file_and_a_fixed_file_continues_from_there() {
    let dir = temp_dir("cql");
    copy_cql(&dir);
    std::fs::write(
        dir.join("099_bad.cql"),
        "CREATE TABLE IF NOT EXISTS extra (id int PRIMARY KEY);\nCREATE TABLE oops (id int PRIMARY KEY, name nosuchtype);\n",
    )
    .unwrap();
    let keyspace = unique("t");
    let command = |args: &[&str]| {
        let mut cmd = meteo();
        cmd.args([
            "--keyspace",
            &keyspace,
            "--topic",
            &keyspace,
            "migrate",
            "--cql-dir",
        ])
        .arg(&dir)
        .args(args);
        run(cmd)
    };

    let failed = command(&[]);
    failed.assert_fails_with(&["099_bad.cql", "statement 2", "CREATE TABLE oops"]);
    // Cassandra's own message is in the line.
    assert!(
        failed.error_lines()[0].contains("Unknown type"),
        "{}",
        failed.describe()
    );

    let status = command(&["--status"]);
    status.assert_ok();
    assert!(
        status.stdout.contains("applied  001_initial.cql"),
        "{}",
        status.describe()
    );
    assert!(
        status.stdout.contains("pending  099_bad.cql"),
        "{}",
        status.describe()
    );

    std::fs::write(
        dir.join("099_bad.cql"),
        "CREATE TABLE IF NOT EXISTS extra (id int PRIMARY KEY);\nCREATE TABLE IF NOT EXISTS oops (id int PRIMARY KEY);\n",
    )
    .unwrap();
    command(&[]).assert_ok();
    let status = command(&["--status"]);
    assert!(
        status.stdout.contains("applied  099_bad.cql"),
        "{}",
        status.describe()
    );
    assert!(
        status.stdout.contains("3 applied, 0 pending"),
        "{}",
        status.describe()
    );
    drop_keyspace(&keyspace).await;
}

/// A port where something accepts connections and never answers: a hung node.
fn black_hole() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepting = listener.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in accepting.incoming().flatten() {
            held.push(stream);
        }
    });
    (listener, port)
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn cassandra_not_answering_is_one_line_naming_it_within_ten_seconds() {
    let (_hole, hung) = black_hole();
    for port in [closed_port(), hung] {
        let address = format!("127.0.0.1:{port}");
        let mut cmd = meteo();
        cmd.args(["--cassandra", &address, "migrate"]);
        let run = run(cmd);
        run.assert_fails_with(&[&address, "Cassandra"]);
        assert!(run.took < Duration::from_secs(15), "{}", run.describe());
    }
}

#[test]
fn a_refused_cassandra_port_is_said_at_once_by_every_command() {
    let address = format!("127.0.0.1:{}", closed_port());
    for command in [&["migrate"][..], &["dash"], &["consume"]] {
        let mut cmd = meteo();
        cmd.args(["--cassandra", &address]).args(command);
        let run = run(cmd);
        run.assert_fails_with(&[&address, "refused"]);
        assert!(
            run.took < Duration::from_secs(2),
            "{command:?}\n{}",
            run.describe()
        );
    }
}

#[test]
fn a_user_without_a_password_or_a_password_without_a_user_is_a_usage_error() {
    let password_file = temp_dir("pw").join("password");
    std::fs::write(&password_file, "s3cret-Pa55\n").unwrap();
    let cases: [&[&str]; 2] = [
        &["--cassandra-user", "alice", "migrate"],
        &[
            "--cassandra-password-file",
            password_file.to_str().unwrap(),
            "migrate",
        ],
    ];
    for args in cases {
        let mut cmd = meteo();
        cmd.args(args);
        let run = run(cmd);
        assert_eq!(run.code, Some(2), "{args:?}\n{}", run.describe());
        assert!(run.stderr.contains("CASSANDRA_USER"), "{}", run.describe());
        assert!(!run.stderr.contains("s3cret"), "{}", run.describe());
    }
    let mut cmd = meteo();
    cmd.env("CASSANDRA_PASSWORD", "s3cret-Pa55").arg("migrate");
    let run = run(cmd);
    assert_eq!(run.code, Some(2), "{}", run.describe());
    assert!(!run.stderr.contains("s3cret"), "{}", run.describe());
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_not_answering_is_one_line_naming_it_within_ten_seconds() {
    let (_hole, hung) = black_hole();
    let mut keyspaces = Vec::new();
    for port in [closed_port(), hung] {
        let address = format!("127.0.0.1:{port}");
        let keyspace = unique("t");
        let mut cmd = meteo();
        cmd.args(["--brokers", &address, "--keyspace", &keyspace, "migrate"]);
        let run = run(cmd);
        run.assert_fails_with(&[&address, "Kafka"]);
        assert!(run.took < Duration::from_secs(15), "{}", run.describe());
        keyspaces.push(keyspace);
    }
    for keyspace in keyspaces {
        drop_keyspace(&keyspace).await;
    }
}

#[test]
fn folder_problems_fail_before_touching_any_service() {
    // Unreachable services: the folder must be reported first, quickly.
    let bad_services = ["--cassandra", "127.0.0.1:1", "--brokers", "127.0.0.1:1"];
    let check = |dir: &std::path::Path, needles: &[&str]| {
        let mut cmd = meteo();
        cmd.args(bad_services)
            .args(["migrate", "--cql-dir"])
            .arg(dir);
        let run = run(cmd);
        run.assert_fails_with(needles);
        assert!(run.took < Duration::from_secs(5), "{}", run.describe());
    };

    let missing = std::env::temp_dir().join(unique("absent"));
    check(&missing, &["does not exist"]);

    let empty = temp_dir("empty");
    check(&empty, &["holds no NNN_name.cql"]);

    let bad_name = temp_dir("badname");
    copy_cql(&bad_name);
    std::fs::write(bad_name.join("second.cql"), "SELECT 1;").unwrap();
    check(&bad_name, &["second.cql", "NNN_name.cql"]);

    let duplicate = temp_dir("dup");
    copy_cql(&duplicate);
    std::fs::write(duplicate.join("1_again.cql"), "SELECT 1;").unwrap();
    check(
        &duplicate,
        &["001_initial.cql", "1_again.cql", "same number"],
    );
}

#[test]
fn bad_flags_are_usage_errors_with_exit_code_two() {
    for args in [
        vec!["migrate", "--partitions", "0"],
        vec!["migrate", "--replication-factor", "x"],
        vec!["migrate", "--replication", "3"],
        vec!["--keyspace", "bad-name", "migrate"],
        vec!["--brokers", "nohostport", "migrate"],
        vec!["no-such-command"],
    ] {
        let mut cmd = meteo();
        cmd.args(&args);
        let run = run(cmd);
        assert_eq!(run.code, Some(2), "{args:?}\n{}", run.describe());
    }
    let mut cmd = meteo();
    cmd.env("CASSANDRA_NODES", "localhost").arg("migrate");
    let run = run(cmd);
    assert_eq!(run.code, Some(2), "{}", run.describe());
    assert!(run.stderr.contains("port is missing"), "{}", run.describe());
}

#[tokio::test(flavor = "multi_thread")]
async fn another_replication_on_an_existing_keyspace_is_named_with_the_way_to_change_it() {
    let (keyspace, topic) = migrated(&[]);
    let mut again = meteo();
    again
        .args(["--keyspace", &keyspace, "--topic", &topic])
        .args(["migrate", "--replication-factor", "3"]);
    let again = run(again);
    again.assert_ok();
    for needle in [
        "exists with replication",
        "ALTER KEYSPACE",
        "'replication_factor': 3",
        "nodetool repair",
    ] {
        assert!(
            again.stderr.contains(needle),
            "{needle}\n{}",
            again.describe()
        );
    }
    // The same replication as at creation says nothing about it.
    let mut same = meteo();
    same.args(["--keyspace", &keyspace, "--topic", &topic, "migrate"]);
    let same = run(same);
    same.assert_ok();
    assert!(
        !same.stderr.contains("exists with replication"),
        "{}",
        same.describe()
    );
    drop_keyspace(&keyspace).await;
}

/// `readings`' TTL and compaction in `keyspace`, read from the schema as Cassandra holds it.
async fn readings_options(keyspace: &str) -> (i32, std::collections::HashMap<String, String>) {
    let session = session(None).await;
    let found = meteo::store::rows(
        meteo::store::query_with_values(
            &session,
            "SELECT default_time_to_live, compaction FROM system_schema.tables \
             WHERE keyspace_name = ? AND table_name = ?",
            cdrs_tokio::query_values!(keyspace, "readings"),
        )
        .await
        .unwrap(),
    )
    .unwrap();
    let row = found.first().expect("readings exists");
    let ttl: i32 =
        cdrs_tokio::types::IntoRustByName::get_r_by_name(row, "default_time_to_live").unwrap();
    let map: cdrs_tokio::types::map::Map =
        cdrs_tokio::types::IntoRustByName::get_r_by_name(row, "compaction").unwrap();
    (ttl, map.as_r_type().unwrap())
}

/// The TTL Cassandra gives a table's rows by default, 0 for none.
async fn table_ttl(keyspace: &str, table: &str) -> i32 {
    let session = session(None).await;
    let found = meteo::store::rows(
        meteo::store::query_with_values(
            &session,
            "SELECT default_time_to_live FROM system_schema.tables \
             WHERE keyspace_name = ? AND table_name = ?",
            cdrs_tokio::query_values!(keyspace, table),
        )
        .await
        .unwrap(),
    )
    .unwrap();
    cdrs_tokio::types::IntoRustByName::get_r_by_name(&found[0], "default_time_to_live").unwrap()
}

fn migrate_again(keyspace: &str, topic: &str, extra: &[&str]) -> crate::util::Run {
    let mut cmd = meteo();
    cmd.args(["--keyspace", keyspace, "--topic", topic, "migrate"])
        .args(extra);
    let run = run(cmd);
    run.assert_ok();
    run
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_sets_the_readings_ttl_and_a_fitting_window_and_not_latest() {
    let (keyspace, topic) = migrated(&["--retention", "90d"]);
    let (ttl, compaction) = readings_options(&keyspace).await;
    assert_eq!(ttl, 90 * 86_400);
    assert!(
        compaction["class"].ends_with("TimeWindowCompactionStrategy"),
        "{compaction:?}"
    );
    assert_eq!(compaction["compaction_window_unit"], "DAYS");
    assert_eq!(compaction["compaction_window_size"], "3");
    assert_eq!(table_ttl(&keyspace, "latest").await, 0);
    assert_eq!(table_ttl(&keyspace, "city_countries").await, 0);

    // The same retention again changes nothing, and says so.
    let again = migrate_again(&keyspace, &topic, &["--retention", "90d"]);
    assert!(
        again.stderr.contains("nothing to do"),
        "{}",
        again.describe()
    );
    assert!(
        !again.stderr.contains("keep the TTL"),
        "{}",
        again.describe()
    );
    // Without --retention, the table keeps the one it has.
    migrate_again(&keyspace, &topic, &[]);
    assert_eq!(readings_options(&keyspace).await.0, 90 * 86_400);
    drop_keyspace(&keyspace).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_retention_on_an_existing_keyspace_warns_that_old_rows_keep_their_ttl() {
    let (keyspace, topic) = migrated(&[]);
    assert_eq!(
        readings_options(&keyspace).await.0,
        0,
        "keeps everything by default"
    );
    let changed = migrate_again(&keyspace, &topic, &["--retention", "7d"]);
    for needle in [
        "from keep everything to 7d",
        "rows already written keep the TTL",
    ] {
        assert!(
            changed.stderr.contains(needle),
            "{needle}\n{}",
            changed.describe()
        );
    }
    assert!(
        !changed.stderr.contains("nothing to do"),
        "{}",
        changed.describe()
    );
    let (ttl, compaction) = readings_options(&keyspace).await;
    assert_eq!(ttl, 7 * 86_400);
    assert_eq!(compaction["compaction_window_unit"], "HOURS");
    assert_eq!(compaction["compaction_window_size"], "6");
    drop_keyspace(&keyspace).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_row_written_after_a_one_second_retention_expires_with_it() {
    let (keyspace, _topic) = migrated(&["--retention", "1s"]);
    let session = session(Some(&keyspace)).await;
    meteo::store::query(
        &session,
        "INSERT INTO readings (city_id, day, observed_at, temperature) \
         VALUES (1, '2026-01-01', '2026-01-01 00:00:00+0000', 12.5)",
    )
    .await
    .unwrap();
    let found = meteo::store::rows(
        meteo::store::query(
            &session,
            "SELECT TTL(temperature) AS ttl FROM readings WHERE city_id = 1 AND day = '2026-01-01'",
        )
        .await
        .unwrap(),
    )
    .unwrap();
    // Read at once: 1 while the second runs, or gone (no row) when it has already passed.
    if let Some(row) = found.first() {
        let ttl: Option<i32> = cdrs_tokio::types::IntoRustByName::get_by_name(row, "ttl").unwrap();
        assert_eq!(ttl, Some(1));
    }
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let after = meteo::store::rows(
        meteo::store::query(
            &session,
            "SELECT temperature FROM readings WHERE city_id = 1 AND day = '2026-01-01'",
        )
        .await
        .unwrap(),
    )
    .unwrap();
    assert!(after.is_empty(), "the row outlived its 1 s TTL");
    drop_keyspace(&keyspace).await;
}

/// The `retention.ms` set on `topic` itself, `None` when the broker's default applies.
async fn topic_retention_ms(topic: &str) -> Option<String> {
    use rdkafka::admin::{AdminClient, AdminOptions, ConfigSource, ResourceSpecifier};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> =
        meteo::kafka::client_config(&kafka_settings(topic))
            .create()
            .unwrap();
    let described = admin
        .describe_configs([&ResourceSpecifier::Topic(topic)], &AdminOptions::new())
        .await
        .unwrap();
    let resource = described.into_iter().next().unwrap().unwrap();
    resource
        .get("retention.ms")
        .filter(|e| e.source == ConfigSource::DynamicTopic)
        .and_then(|e| e.value.clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn topic_retention_is_set_on_new_topics_changed_on_existing_ones_and_shown_by_status() {
    let (keyspace, topic) = migrated(&[]);
    let dlq = format!("{topic}.dlq");
    assert_eq!(topic_retention_ms(&topic).await, None, "broker default");

    let status = |keyspace: &str, topic: &str| {
        let mut cmd = meteo();
        cmd.args([
            "--keyspace",
            keyspace,
            "--topic",
            topic,
            "migrate",
            "--status",
        ]);
        let status = run(cmd);
        status.assert_ok();
        status
    };
    let before = status(&keyspace, &topic);
    for needle in [
        "readings retention: keep everything, compaction window 1 days".to_string(),
        format!("topic {topic} retention: broker default"),
        format!("topic {dlq} retention: broker default"),
    ] {
        assert!(
            before.stdout.contains(&needle),
            "{needle}\n{}",
            before.describe()
        );
    }

    let changed = migrate_again(
        &keyspace,
        &topic,
        &["--topic-retention", "7d", "--retention", "90d"],
    );
    assert!(
        !changed.stderr.contains("nothing to do"),
        "{}",
        changed.describe()
    );
    let week = (7 * 86_400_000_i64).to_string();
    assert_eq!(
        topic_retention_ms(&topic).await.as_deref(),
        Some(week.as_str())
    );
    assert_eq!(
        topic_retention_ms(&dlq).await.as_deref(),
        Some(week.as_str())
    );
    // The settings made at creation survive the change (AlterConfigs replaces them all).
    let dlq_max = {
        use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
        use rdkafka::client::DefaultClientContext;
        let admin: AdminClient<DefaultClientContext> =
            meteo::kafka::client_config(&kafka_settings(&dlq))
                .create()
                .unwrap();
        let described = admin
            .describe_configs([&ResourceSpecifier::Topic(&dlq)], &AdminOptions::new())
            .await
            .unwrap();
        let resource = described.into_iter().next().unwrap().unwrap();
        resource
            .get("max.message.bytes")
            .and_then(|e| e.value.clone())
    };
    assert_eq!(
        dlq_max,
        Some(meteo::kafka::DLQ_MAX_MESSAGE_BYTES.to_string())
    );

    let again = migrate_again(
        &keyspace,
        &topic,
        &["--topic-retention", "7d", "--retention", "90d"],
    );
    assert!(
        again.stderr.contains("nothing to do"),
        "{}",
        again.describe()
    );

    let after = status(&keyspace, &topic);
    for needle in [
        "readings retention: 90d, compaction window 3 days".to_string(),
        format!("topic {topic} retention: retention.ms={week}"),
        format!("topic {dlq} retention: retention.ms={week}"),
    ] {
        assert!(
            after.stdout.contains(&needle),
            "{needle}\n{}",
            after.describe()
        );
    }

    // A topic created with the option has it from the start.
    let (fresh_keyspace, fresh_topic) = migrated(&["--topic-retention", "36h"]);
    assert_eq!(
        topic_retention_ms(&fresh_topic).await.as_deref(),
        Some((36 * 3_600_000_i64).to_string().as_str())
    );
    drop_keyspace(&keyspace).await;
    drop_keyspace(&fresh_keyspace).await;
}

#[test]
fn a_zero_or_absurd_retention_is_a_one_line_usage_error() {
    for (flag, value, says) in [
        ("--retention", "0", "more than zero"),
        ("--retention", "100y", "20 years"),
        ("--topic-retention", "0s", "more than zero"),
        ("--retention", "1500ms", "whole seconds"),
    ] {
        let mut cmd = meteo();
        cmd.args(["migrate", flag, value]);
        let run = run(cmd);
        assert_eq!(run.code, Some(2), "{}", run.describe());
        assert!(run.stderr.contains(says), "{}", run.describe());
        assert!(run.stderr.contains(flag), "{}", run.describe());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn status_says_a_missing_topic_does_not_exist_and_a_refused_kafka_in_one_line() {
    let topic = unique("t");
    let mut cmd = meteo();
    cmd.args(["--keyspace", &unique("t"), "--topic", &topic])
        .args(["migrate", "--status"]);
    let status = run(cmd);
    status.assert_ok();
    for needle in [
        "readings retention: keep everything (the table does not exist yet)".to_string(),
        format!("topic {topic} retention: does not exist yet"),
        format!("topic {topic}.dlq retention: does not exist yet"),
    ] {
        assert!(
            status.stdout.contains(&needle),
            "{needle}\n{}",
            status.describe()
        );
    }

    let address = format!("127.0.0.1:{}", closed_port());
    let mut cmd = meteo();
    cmd.args(["--brokers", &address, "migrate", "--status"]);
    let refused = run(cmd);
    refused.assert_fails_with(&[&address, "refused"]);
    assert!(
        refused.took < Duration::from_secs(5),
        "{}",
        refused.describe()
    );
}
