//! The container files (`Dockerfile`, `.dockerignore`, `docker-compose.yml`), read as text: no
//! Docker engine runs here. The compose file is checked against the command line's own clap
//! definition (`Cli::command()`), so it cannot name a subcommand or a variable meteo does not
//! read. Each checker returns its problems as sentences; the `*_catches_*` tests feed it a
//! deliberately bad file, so a checker that stopped checking would fail too.
//! The same checks run on `docker-compose.cluster.yml`, where each stateful service is three
//! nodes (`kafka1`..`kafka3`). Touches no service.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command as Process;
use std::time::Duration;

use clap::CommandFactory;
use meteo::cli::Cli;
use yaml_rust2::{Yaml, YamlLoader};

use crate::util::repo;

/// Read outside clap: the log filter (tracing-subscriber).
const ENV_OUTSIDE_CLAP: &[&str] = &["RUST_LOG"];
/// Long-running meteo services, and the time their own shutdown takes: the producer gives
/// calls in flight 5 s and unacknowledged readings 30 s more.
const LONG_RUNNING: &[&str] = &["producer", "consumer"];
const MIN_STOP_GRACE: Duration = Duration::from_secs(35);
/// The stateful services: one node named as the kind (`kafka`), or several numbered (`kafka1`).
const STATEFUL: &[&str] = &["kafka", "cassandra"];
/// The services of the `monitoring` profile: official images, pinned.
const MONITORING: &[(&str, &str)] = &[
    ("prometheus", "prom/prometheus"),
    ("grafana", "grafana/grafana"),
];

fn read(name: &str) -> String {
    let path = repo().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn assert_no_problems(what: &str, problems: &[String]) {
    assert!(problems.is_empty(), "{what}:\n  {}", problems.join("\n  "));
}

fn assert_reports(problems: &[String], expected: &[&str]) {
    for needle in expected {
        assert!(
            problems.iter().any(|p| p.contains(needle)),
            "no problem mentions {needle:?}; got:\n  {}",
            problems.join("\n  ")
        );
    }
}

// ------------------------------------------------------------------------- compose model

/// One service of the compose file, in the forms compose accepts normalised to one.
#[derive(Debug, Default)]
struct Service {
    image: Option<String>,
    built: bool,
    command: Vec<String>,
    environment: BTreeMap<String, String>,
    /// Service name -> condition (`service_started` for the short list form).
    depends_on: BTreeMap<String, String>,
    restart: Option<String>,
    volumes: Vec<String>,
    ports: Vec<String>,
    container_name: Option<String>,
    profiles: Vec<String>,
    tty: bool,
    stdin_open: bool,
    stop_grace_period: Option<String>,
    healthcheck: Option<Vec<String>>,
}

#[derive(Debug)]
struct Compose {
    services: BTreeMap<String, Service>,
    volumes: BTreeSet<String>,
}

/// A scalar as compose reads it (`1`, `true` and `"1"` are all the string `1` in env values).
fn scalar(yaml: &Yaml) -> Option<String> {
    match yaml {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        Yaml::Null => Some(String::new()),
        _ => None,
    }
}

/// Applies YAML merge keys (`<<: *anchor`, or a list of them) recursively; explicit keys win.
/// yaml-rust2 follows YAML 1.2, which leaves `<<` to the application; compose applies it.
fn merge_keys(yaml: Yaml) -> Yaml {
    match yaml {
        Yaml::Hash(hash) => {
            let merge = Yaml::String("<<".into());
            let mut out = yaml_rust2::yaml::Hash::new();
            if let Some(merged) = hash.get(&merge) {
                let sources = match merged {
                    Yaml::Array(items) => items.clone(),
                    other => vec![other.clone()],
                };
                for source in sources {
                    if let Yaml::Hash(source) = merge_keys(source) {
                        for (k, v) in source {
                            out.insert(k, v);
                        }
                    }
                }
            }
            for (k, v) in hash {
                if k != merge {
                    out.insert(k, merge_keys(v));
                }
            }
            Yaml::Hash(out)
        }
        Yaml::Array(items) => Yaml::Array(items.into_iter().map(merge_keys).collect()),
        other => other,
    }
}

fn strings(yaml: &Yaml) -> Vec<String> {
    match yaml {
        Yaml::Array(items) => items.iter().filter_map(scalar).collect(),
        Yaml::BadValue => Vec::new(),
        // The string form of `command` is split on whitespace, as compose does without quotes.
        other => scalar(other)
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default(),
    }
}

fn parse_service(yaml: &Yaml) -> Result<Service, String> {
    if yaml.as_hash().is_none() {
        return Err("is not a mapping".into());
    }
    let environment = match &yaml["environment"] {
        Yaml::Hash(map) => map
            .iter()
            .map(|(k, v)| Ok((scalar(k).ok_or("odd key")?, scalar(v).unwrap_or_default())))
            .collect::<Result<_, &str>>()?,
        Yaml::Array(items) => items
            .iter()
            .filter_map(scalar)
            .map(|item| match item.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (item, String::new()),
            })
            .collect(),
        _ => BTreeMap::new(),
    };
    let depends_on = match &yaml["depends_on"] {
        Yaml::Hash(map) => map
            .iter()
            .filter_map(|(k, v)| {
                let condition = scalar(&v["condition"]).unwrap_or_else(|| "service_started".into());
                Some((scalar(k)?, condition))
            })
            .collect(),
        Yaml::Array(items) => items
            .iter()
            .filter_map(scalar)
            .map(|name| (name, "service_started".to_string()))
            .collect(),
        _ => BTreeMap::new(),
    };
    let volumes = match &yaml["volumes"] {
        Yaml::Array(items) => items
            .iter()
            .filter_map(|v| scalar(v).or_else(|| scalar(&v["source"])))
            .collect(),
        _ => Vec::new(),
    };
    let healthcheck = match &yaml["healthcheck"] {
        Yaml::BadValue => None,
        check => Some(strings(&check["test"])),
    };
    Ok(Service {
        image: scalar(&yaml["image"]),
        built: !yaml["build"].is_badvalue(),
        command: strings(&yaml["command"]),
        environment,
        depends_on,
        restart: scalar(&yaml["restart"]),
        volumes,
        ports: strings(&yaml["ports"]),
        container_name: scalar(&yaml["container_name"]),
        profiles: strings(&yaml["profiles"]),
        tty: yaml["tty"].as_bool().unwrap_or(false),
        stdin_open: yaml["stdin_open"].as_bool().unwrap_or(false),
        stop_grace_period: scalar(&yaml["stop_grace_period"]),
        healthcheck,
    })
}

fn parse_compose(text: &str) -> Result<Compose, String> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| format!("not YAML: {e}"))?;
    let [doc] = docs.as_slice() else {
        return Err(format!("{} YAML documents, expected one", docs.len()));
    };
    let doc = merge_keys(doc.clone());
    let services = doc["services"]
        .as_hash()
        .ok_or("no `services` mapping")?
        .iter()
        .map(|(name, body)| {
            let name = scalar(name).ok_or("a service name is not a string")?;
            let service = parse_service(body).map_err(|e| format!("service {name} {e}"))?;
            Ok((name, service))
        })
        .collect::<Result<_, String>>()?;
    let volumes = match &doc["volumes"] {
        Yaml::Hash(map) => map.keys().filter_map(scalar).collect(),
        _ => BTreeSet::new(),
    };
    Ok(Compose { services, volumes })
}

// ----------------------------------------------------------------------- compose checks

/// The environment variables a subcommand reads: its own arguments' and the global ones'.
fn env_read_by(cli: &clap::Command, subcommand: &clap::Command) -> BTreeSet<String> {
    cli.get_arguments()
        .chain(subcommand.get_arguments())
        .filter_map(|arg| arg.get_env())
        .map(|env| env.to_string_lossy().into_owned())
        .chain(ENV_OUTSIDE_CLAP.iter().map(|s| s.to_string()))
        .collect()
}

fn long_flags(cli: &clap::Command, subcommand: &clap::Command) -> BTreeSet<String> {
    cli.get_arguments()
        .chain(subcommand.get_arguments())
        .filter_map(|arg| arg.get_long())
        .map(|long| format!("--{long}"))
        .collect()
}

/// The services that run the meteo image: built from this folder.
fn is_meteo(service: &Service) -> bool {
    service.built
        || service
            .image
            .as_deref()
            .is_some_and(|i| i.starts_with("meteo:") || i == "meteo")
}

/// `45s`, `1m30s`, `2m`, `500ms` (compose's duration format).
fn compose_duration(text: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        total += match &rest[..unit] {
            "h" => Duration::from_secs(n * 3600),
            "m" => Duration::from_secs(n * 60),
            "s" => Duration::from_secs(n),
            "ms" => Duration::from_millis(n),
            _ => return None,
        };
        rest = &rest[unit..];
    }
    Some(total)
}

fn restarts_on_failure(policy: Option<&str>) -> bool {
    matches!(policy, Some("always" | "unless-stopped"))
        || policy.is_some_and(|p| p == "on-failure" || p.starts_with("on-failure:"))
}

/// Everything wrong with a compose file, as sentences; empty when it is right.
fn compose_problems(compose: &Compose, cli: &clap::Command) -> Vec<String> {
    let mut problems = Vec::new();
    let services = &compose.services;
    let condition = |service: &str, on: &str| {
        services
            .get(service)
            .and_then(|s| s.depends_on.get(on))
            .map(String::as_str)
    };

    for name in ["migrate", "producer", "consumer", "dash"] {
        if !services.contains_key(name) {
            problems.push(format!("no service `{name}`"));
        }
    }
    for kind in STATEFUL {
        if nodes(compose, kind).is_empty() {
            problems.push(format!("no service `{kind}` (nor `{kind}1`, `{kind}2`...)"));
        }
    }
    problems.extend(port_clashes(compose));

    for (name, service) in services {
        match service.restart.as_deref() {
            None => problems.push(format!("{name}: no restart policy")),
            Some(policy)
                if !matches!(policy, "no" | "always" | "unless-stopped")
                    && !policy.starts_with("on-failure") =>
            {
                problems.push(format!("{name}: unknown restart policy {policy:?}"))
            }
            _ => {}
        }
        for (on, cond) in &service.depends_on {
            let Some(target) = services.get(on) else {
                problems.push(format!("{name}: depends on `{on}`, which is not a service"));
                continue;
            };
            let disabled = |check: &Vec<String>| check.first().is_some_and(|t| t == "NONE");
            if cond == "service_healthy" && target.healthcheck.as_ref().is_none_or(disabled) {
                problems.push(format!(
                    "{name}: waits for `{on}` healthy, but {on} has no healthcheck"
                ));
            }
            if cond == "service_completed_successfully"
                && matches!(target.restart.as_deref(), Some("always" | "unless-stopped"))
            {
                problems.push(format!(
                    "{name}: waits for `{on}` to complete, but {on} is restarted after it does"
                ));
            }
        }
        if !is_meteo(service) {
            continue;
        }

        let Some(sub_name) = service.command.first() else {
            problems.push(format!("{name}: runs the meteo image without a command"));
            continue;
        };
        let Some(sub) = cli.find_subcommand(sub_name) else {
            problems.push(format!("{name}: `{sub_name}` is not a meteo subcommand"));
            continue;
        };
        let flags = long_flags(cli, sub);
        for word in &service.command[1..] {
            let flag = word.split('=').next().unwrap_or(word);
            if flag.starts_with("--") && !flags.contains(flag) {
                problems.push(format!("{name}: `meteo {sub_name}` has no option {flag}"));
            }
        }
        let readable = env_read_by(cli, sub);
        for var in service.environment.keys() {
            if !readable.contains(var) {
                problems.push(format!(
                    "{name}: sets {var}, which `meteo {sub_name}` does not read"
                ));
            }
        }
    }

    // The order: kafka and cassandra healthy -> migrate completed -> producer and consumer.
    for on in STATEFUL.iter().flat_map(|kind| nodes(compose, kind)) {
        if condition("migrate", on) != Some("service_healthy") {
            problems.push(format!(
                "migrate: does not wait for {on} to be service_healthy"
            ));
        }
    }
    if let Some(migrate) = services.get("migrate") {
        if restarts_on_failure(migrate.restart.as_deref())
            && !migrate
                .restart
                .as_deref()
                .is_some_and(|p| p.starts_with("on-failure"))
        {
            problems.push("migrate: is a one-shot, but its restart policy runs it forever".into());
        }
    }
    for name in LONG_RUNNING {
        if condition(name, "migrate") != Some("service_completed_successfully") {
            problems.push(format!(
                "{name}: does not wait for migrate to be service_completed_successfully"
            ));
        }
        let Some(service) = services.get(*name) else {
            continue;
        };
        if !restarts_on_failure(service.restart.as_deref()) {
            problems.push(format!("{name}: is not restarted on failure"));
        }
        match service.stop_grace_period.as_deref().map(compose_duration) {
            None => problems.push(format!(
                "{name}: no stop_grace_period (Docker's 10 s cuts the flush)"
            )),
            Some(None) => problems.push(format!("{name}: stop_grace_period is not a duration")),
            Some(Some(grace)) if grace < MIN_STOP_GRACE => problems.push(format!(
                "{name}: stop_grace_period {grace:?} is shorter than {MIN_STOP_GRACE:?}"
            )),
            _ => {}
        }
    }

    // Compose stops dependents first: with the producer depending on the consumer, `stop` and
    // `down` stop it first, and the consumers take its last readings before they exit.
    if services.contains_key("consumer") && condition("producer", "consumer").is_none() {
        problems.push(
            "producer: does not depend on consumer, so `docker compose stop` stops both at once \
             and its last readings wait for the next consumer"
                .into(),
        );
    }

    // Stateful services keep their data in named volumes declared at the top level.
    for name in STATEFUL.iter().flat_map(|kind| nodes(compose, kind)) {
        let service = &services[name];
        if !pinned(service.image.as_deref()) {
            problems.push(format!(
                "{name}: image {:?} is not pinned to a version",
                service.image
            ));
        }
        if service.healthcheck.is_none() {
            problems.push(format!(
                "{name}: no healthcheck, so nothing can wait for it"
            ));
        }
        let named: Vec<&str> = service
            .volumes
            .iter()
            .map(|v| v.split(':').next().unwrap_or(v))
            .filter(|source| !source.starts_with(['/', '.', '~', '$']))
            .collect();
        if named.is_empty() {
            problems.push(format!(
                "{name}: no named volume, its data dies with the container"
            ));
        }
        for source in named {
            if !compose.volumes.contains(source) {
                problems.push(format!(
                    "{name}: volume `{source}` is not declared under top-level volumes"
                ));
            }
        }
        if !restarts_on_failure(service.restart.as_deref()) {
            problems.push(format!("{name}: is not restarted on failure"));
        }
    }

    if let Some(consumer) = services.get("consumer") {
        if consumer.container_name.is_some() {
            problems.push("consumer: container_name stops --scale consumer=N".into());
        }
        if !consumer.ports.is_empty() {
            problems.push("consumer: a published port stops --scale consumer=N".into());
        }
    }
    if let Some(dash) = services.get("dash") {
        if dash.profiles.is_empty() {
            problems.push("dash: not under a profile, so `docker compose up` starts it".into());
        }
        if !(dash.tty && dash.stdin_open) {
            problems.push("dash: needs tty and stdin_open for the dashboard".into());
        }
    }
    if let Some(producer) = services.get("producer") {
        if !producer
            .environment
            .get("OWM_API_KEY")
            .is_some_and(|v| v.starts_with("${OWM_API_KEY"))
        {
            problems.push(
                "producer: OWM_API_KEY is not passed through from the user's environment".into(),
            );
        }
    }

    // Long-running services serve /readyz, and their health check asks it, on the port served.
    if cli.find_subcommand("probe").is_none() {
        problems.push("`meteo probe` does not exist: the health checks cannot ask /readyz".into());
    }
    for name in LONG_RUNNING {
        let Some(service) = services.get(*name) else {
            continue;
        };
        let Some(port) = metrics_port(service) else {
            problems.push(format!(
                "{name}: serves no /readyz (METEO_METRICS_ADDR is not HOST:PORT)"
            ));
            continue;
        };
        let expected = ["CMD", "meteo", "probe"]
            .map(String::from)
            .into_iter()
            .chain([format!("http://127.0.0.1:{port}/readyz")])
            .collect::<Vec<_>>();
        if service.healthcheck.as_ref() != Some(&expected) {
            problems.push(format!(
                "{name}: its healthcheck is not {expected:?}, the /readyz it serves"
            ));
        }
    }
    problems.extend(address_problems(compose));
    problems
}

/// What the `monitoring` profile needs: Prometheus and Grafana, official images, pinned.
/// Only docker-compose.yml has it; the cluster file runs the pipeline alone.
fn monitoring_problems(compose: &Compose) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, image) in MONITORING {
        let Some(service) = compose.services.get(*name) else {
            problems.push(format!("no service `{name}` (the monitoring profile)"));
            continue;
        };
        if service.profiles != ["monitoring"] {
            problems.push(format!("{name}: not under the `monitoring` profile alone"));
        }
        let tag = service
            .image
            .as_deref()
            .and_then(|i| i.strip_prefix(&format!("{image}:")));
        if tag.is_none_or(|t| t.is_empty() || t == "latest") {
            problems.push(format!("{name}: image is not {image} with a pinned tag"));
        }
    }
    problems
}

/// The addresses the meteo services use are the ones the services offer, and they name every
/// node, so a client still starts with any one of them down.
fn address_problems(compose: &Compose) -> Vec<String> {
    let mut problems = Vec::new();
    let services = &compose.services;
    let kafka_nodes = nodes(compose, "kafka");
    let cassandra_nodes = nodes(compose, "cassandra");
    let advertised: Vec<&str> = kafka_nodes
        .iter()
        .filter_map(|k| services[*k].environment.get("KAFKA_ADVERTISED_LISTENERS"))
        .flat_map(|listeners| listeners.split(','))
        .collect();
    for (name, service) in services.iter().filter(|(_, s)| is_meteo(s)) {
        if let Some(brokers) = service.environment.get("KAFKA_BROKERS") {
            for broker in brokers.split(',') {
                if !advertised
                    .iter()
                    .any(|l| l.ends_with(&format!("://{broker}")))
                {
                    problems.push(format!(
                        "{name}: KAFKA_BROKERS {broker} is not a listener kafka advertises"
                    ));
                }
            }
            for node in &kafka_nodes {
                if !brokers
                    .split(',')
                    .any(|b| b.split(':').next() == Some(node))
                {
                    problems.push(format!("{name}: KAFKA_BROKERS does not name {node}"));
                }
            }
        }
        if let Some(contacts) = service.environment.get("CASSANDRA_NODES") {
            for node in contacts.split(',') {
                let host = node.split(':').next().unwrap_or(node);
                if !cassandra_nodes.contains(&host) {
                    problems.push(format!(
                        "{name}: CASSANDRA_NODES {node} is not a cassandra service"
                    ));
                }
            }
            for node in &cassandra_nodes {
                if !contacts
                    .split(',')
                    .any(|c| c.split(':').next() == Some(node))
                {
                    problems.push(format!("{name}: CASSANDRA_NODES does not name {node}"));
                }
            }
        }
    }
    problems
}

/// The nodes of a stateful kind: the service named `kind`, or those named `kind` and a number.
fn nodes<'a>(compose: &'a Compose, kind: &str) -> Vec<&'a str> {
    compose
        .services
        .keys()
        .map(String::as_str)
        .filter(|name| {
            name.strip_prefix(kind)
                .is_some_and(|n| n.is_empty() || n.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect()
}

/// An image with a tag that names a version: not bare, not `latest`.
fn pinned(image: Option<&str>) -> bool {
    image
        .and_then(|i| i.rsplit_once(':'))
        .is_some_and(|(_, tag)| !tag.is_empty() && tag != "latest" && !tag.contains('/'))
}

/// `${NAME:-default}` and `${NAME-default}` replaced by their defaults, as compose does when
/// NAME is unset; `${NAME}` left as it is.
fn with_defaults(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let Some(end) = rest[at..].find('}') else {
            break;
        };
        let inner = &rest[at + 2..at + end];
        match inner.split_once(":-").or_else(|| inner.split_once('-')) {
            Some((_, default)) => out.push_str(default),
            None => out.push_str(&rest[at..=at + end]),
        }
        rest = &rest[at + end + 1..];
    }
    out.push_str(rest);
    out
}

/// Two services publishing the same host port on the same address (or one on all of them):
/// the second would not start. Ports read with their defaults.
fn port_clashes(compose: &Compose) -> Vec<String> {
    let mut published: Vec<(&str, String, String)> = Vec::new();
    for (name, service) in &compose.services {
        for port in &service.ports {
            let port = with_defaults(port);
            let host = port.rsplit_once(':').map_or("", |(host, _)| host);
            let (address, number) = host.rsplit_once(':').unwrap_or(("0.0.0.0", host));
            published.push((name, address.to_string(), number.to_string()));
        }
    }
    let mut problems = Vec::new();
    for (i, (a, a_address, a_port)) in published.iter().enumerate() {
        for (b, b_address, b_port) in &published[i + 1..] {
            let overlap =
                a_address == b_address || [a_address, b_address].contains(&&"0.0.0.0".to_string());
            if !a_port.is_empty() && a_port == b_port && overlap {
                problems.push(format!(
                    "{a} and {b} both publish port {a_port} on the host"
                ));
            }
        }
    }
    problems
}

/// The port of a service's METEO_METRICS_ADDR.
fn metrics_port(service: &Service) -> Option<u16> {
    let addr = service.environment.get("METEO_METRICS_ADDR")?;
    addr.rsplit_once(':')?.1.parse().ok()
}

#[test]
fn the_compose_file_parses_and_passes_every_check() {
    let compose = parse_compose(&read("docker-compose.yml")).unwrap();
    assert_no_problems(
        "docker-compose.yml",
        &compose_problems(&compose, &Cli::command()),
    );
    assert_no_problems("docker-compose.yml", &monitoring_problems(&compose));
    // Parsed for real: the merge keys gave every meteo service the shared settings.
    for name in ["migrate", "producer", "consumer", "dash"] {
        let service = &compose.services[name];
        assert!(is_meteo(service), "{name} does not run the meteo image");
        assert_eq!(
            service.environment["CASSANDRA_NODES"], "cassandra:9042",
            "{name}"
        );
    }
}

#[test]
fn the_cluster_compose_file_passes_the_same_checks_with_three_nodes_of_each() {
    let compose = parse_compose(&read("docker-compose.cluster.yml")).unwrap();
    assert_no_problems(
        "docker-compose.cluster.yml",
        &compose_problems(&compose, &Cli::command()),
    );
    assert_eq!(nodes(&compose, "kafka"), ["kafka1", "kafka2", "kafka3"]);
    assert_eq!(
        nodes(&compose, "cassandra"),
        ["cassandra1", "cassandra2", "cassandra3"]
    );
    let env = |service: &str, var: &str| with_defaults(&compose.services[service].environment[var]);
    for kafka in ["kafka1", "kafka2", "kafka3"] {
        assert_eq!(
            env(kafka, "KAFKA_CONTROLLER_QUORUM_VOTERS"),
            "1@kafka1:9093,2@kafka2:9093,3@kafka3:9093"
        );
        assert_eq!(env(kafka, "KAFKA_NODE_ID"), &kafka[5..]);
        assert_eq!(env(kafka, "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"), "3");
        assert_eq!(env(kafka, "KAFKA_MIN_INSYNC_REPLICAS"), "2");
    }
    for cassandra in ["cassandra1", "cassandra2", "cassandra3"] {
        assert_eq!(env(cassandra, "CASSANDRA_DC"), "dc1");
        assert_eq!(env(cassandra, "CASSANDRA_SEEDS"), "cassandra1");
        assert_eq!(
            env(cassandra, "CASSANDRA_ENDPOINT_SNITCH"),
            "GossipingPropertyFileSnitch"
        );
    }
    // Two nodes bootstrapping at once are refused: each waits for the one before it.
    assert_eq!(
        compose.services["cassandra3"].depends_on["cassandra2"],
        "service_healthy"
    );
    assert_eq!(
        compose.services["migrate"].command,
        [
            "migrate",
            "--replication",
            "{'class': 'NetworkTopologyStrategy', 'dc1': 3}",
            "--topic-replication-factor",
            "3"
        ]
    );
    assert_eq!(env("consumer", "METEO_CONSISTENCY"), "LOCAL_QUORUM");
    for name in ["migrate", "producer", "consumer", "dash"] {
        assert_eq!(env(name, "METEO_CASSANDRA_DC"), "dc1", "{name}");
    }
}

#[test]
fn the_compose_checker_catches_a_bad_cluster() {
    let bad = r#"
services:
  kafka1:
    image: apache/kafka
    restart: unless-stopped
    environment:
      KAFKA_ADVERTISED_LISTENERS: PLAINTEXT://kafka1:9092
    ports: ["127.0.0.1:${KAFKA1_HOST_PORT:-9092}:29092"]
    volumes: [kafka1-data:/var/lib/kafka/data]
    healthcheck: {test: ["CMD", "true"]}
  kafka2:
    image: apache/kafka:latest
    restart: unless-stopped
    environment:
      KAFKA_ADVERTISED_LISTENERS: PLAINTEXT://kafka2:9092
    ports: ["${KAFKA2_HOST_PORT:-9092}:29092"]
    volumes: [kafka2-data:/var/lib/kafka/data]
  cassandra1:
    image: cassandra:5.0.8
    restart: unless-stopped
    volumes: [cassandra1-data:/var/lib/cassandra]
    healthcheck: {test: ["CMD", "true"]}
  cassandra2:
    image: cassandra:5.0.8
    restart: unless-stopped
    volumes: [cassandra2-data:/var/lib/cassandra]
    healthcheck: {test: ["CMD", "true"]}
  migrate:
    image: meteo:local
    command: [migrate]
    restart: "no"
    environment:
      KAFKA_BROKERS: kafka1:9092,kafka3:9092
      CASSANDRA_NODES: cassandra1:9042
    depends_on:
      kafka1: {condition: service_healthy}
      cassandra1: {condition: service_healthy}
      cassandra2: {condition: service_healthy}
volumes:
  kafka1-data:
  kafka2-data:
  cassandra1-data:
  cassandra2-data:
"#;
    let compose = parse_compose(bad).unwrap();
    assert_reports(
        &compose_problems(&compose, &Cli::command()),
        &[
            "kafka1: image Some(\"apache/kafka\") is not pinned",
            "kafka2: image Some(\"apache/kafka:latest\") is not pinned",
            "kafka2: no healthcheck",
            "migrate: does not wait for kafka2 to be service_healthy",
            "kafka1 and kafka2 both publish port 9092 on the host",
            "migrate: KAFKA_BROKERS kafka3:9092 is not a listener kafka advertises",
            "migrate: KAFKA_BROKERS does not name kafka2",
            "migrate: CASSANDRA_NODES does not name cassandra2",
        ],
    );
    let none = parse_compose("services:\n  migrate: {image: meteo:local}\n").unwrap();
    assert_reports(
        &compose_problems(&none, &Cli::command()),
        &["no service `kafka` (nor `kafka1`", "no service `cassandra`"],
    );
}

#[test]
fn compose_ports_are_read_with_their_defaults() {
    assert_eq!(
        with_defaults("127.0.0.1:${KAFKA_HOST_PORT:-9092}:29092"),
        "127.0.0.1:9092:29092"
    );
    assert_eq!(with_defaults("${A-1}${B}"), "1${B}");
    assert!(pinned(Some("cassandra:5.0.8")) && pinned(Some("localhost:5000/x:1")));
    assert!(!pinned(Some("cassandra")) && !pinned(Some("localhost:5000/x")));
}

#[test]
fn compose_images_run_the_versions_the_tests_run_against() {
    for file in ["docker-compose.yml", "docker-compose.cluster.yml"] {
        compose_images_match_the_poms(file);
    }
}

fn compose_images_match_the_poms(file: &str) {
    let compose = parse_compose(&read(file)).unwrap();
    for (kind, image, pom, property) in [
        (
            "kafka",
            "apache/kafka",
            "services/kafka/pom.xml",
            "kafka.version",
        ),
        (
            "cassandra",
            "cassandra",
            "services/cassandra/pom.xml",
            "cassandra.version",
        ),
    ] {
        let pom = read(pom);
        let version = pom
            .split(&format!("<{property}>"))
            .nth(1)
            .and_then(|rest| rest.split('<').next())
            .unwrap_or_else(|| panic!("no <{property}> in the pom"));
        for node in nodes(&compose, kind) {
            assert_eq!(
                compose.services[node].image.as_deref(),
                Some(format!("{image}:{version}").as_str()),
                "{file}: {node}"
            );
        }
    }
}

#[test]
fn the_compose_checker_catches_a_bad_file() {
    let bad = r#"
services:
  kafka:
    image: apache/kafka:4.1.1
    restart: unless-stopped
    environment:
      KAFKA_ADVERTISED_LISTENERS: PLAINTEXT://kafka:9092
    volumes: ["/srv/kafka:/var/lib/kafka/data"]
  cassandra:
    image: cassandra:5.0.8
    volumes: [cassandra-data:/var/lib/cassandra]
  migrate:
    image: meteo:local
    command: migrate --no-such-flag
    restart: unless-stopped
    depends_on: [kafka, cassandra]
  producer:
    build: .
    command: ["serve"]
    restart: on-failure
    environment: [KAFKA_BROKERS=localhost:9092]
    depends_on:
      migrate:
        condition: service_completed_successfully
  consumer:
    image: meteo:local
    command: ["consume"]
    container_name: consumer
    stop_grace_period: 10s
    environment:
      METEO_CITIES: data/cities.fr.json
      METEO_TYPO: "1"
  dash:
    image: meteo:local
    command: dash
    restart: "no"
    depends_on:
      cassandra:
        condition: service_healthy
"#;
    let compose = parse_compose(bad).unwrap();
    let mut problems = compose_problems(&compose, &Cli::command());
    problems.extend(monitoring_problems(&compose));
    assert_reports(
        &problems,
        &[
            "cassandra: no restart policy",
            "dash: waits for `cassandra` healthy, but cassandra has no healthcheck",
            "migrate: does not wait for kafka to be service_healthy",
            "producer: waits for `migrate` to complete, but migrate is restarted",
            "migrate: is a one-shot",
            "`meteo migrate` has no option --no-such-flag",
            "producer: `serve` is not a meteo subcommand",
            "producer: no stop_grace_period",
            "producer: does not depend on consumer",
            "producer: OWM_API_KEY is not passed through",
            "consumer: sets METEO_CITIES, which `meteo consume` does not read",
            "consumer: sets METEO_TYPO",
            "consumer: does not wait for migrate",
            "consumer: is not restarted on failure",
            "consumer: stop_grace_period 10s is shorter",
            "consumer: container_name",
            "kafka: no named volume",
            "cassandra: volume `cassandra-data` is not declared",
            "dash: not under a profile",
            "dash: needs tty",
            "producer: serves no /readyz",
            "consumer: serves no /readyz",
            "no service `prometheus`",
            "no service `grafana`",
        ],
    );
    assert!(parse_compose("services: [unclosed").is_err());
    assert!(parse_compose("name: x").is_err());
}

#[test]
fn the_monitoring_profile_scrapes_what_the_services_serve_and_names_real_metrics() {
    let compose = parse_compose(&read("docker-compose.yml")).unwrap();
    let config = YamlLoader::load_from_str(&read("monitoring/prometheus.yml")).unwrap();
    let mut scraped = BTreeSet::new();
    for job in config[0]["scrape_configs"].as_vec().unwrap() {
        for sd in job["dns_sd_configs"].as_vec().unwrap() {
            let port = sd["port"].as_i64().unwrap();
            for name in strings(&sd["names"]) {
                let service = compose
                    .services
                    .get(&name)
                    .unwrap_or_else(|| panic!("{name} is scraped but not a service"));
                assert_eq!(metrics_port(service).map(i64::from), Some(port), "{name}");
                scraped.insert(name);
            }
        }
    }
    let long_running: BTreeSet<String> = LONG_RUNNING.iter().map(|s| s.to_string()).collect();
    assert_eq!(scraped, long_running);
    // What the Prometheus and Grafana containers mount exists here.
    for (name, _) in MONITORING {
        for volume in &compose.services[*name].volumes {
            if let Some(path) = volume.strip_prefix("./") {
                let path = path.split(':').next().unwrap();
                assert!(repo().join(path).exists(), "{name} mounts {path}: missing");
            }
        }
    }
    // Every meteo_* metric the dashboard and the alerts query is one meteo exports.
    let exported: String = [meteo::metrics::Role::Produce, meteo::metrics::Role::Consume]
        .map(|role| {
            let metrics = meteo::metrics::Metrics::new(role, "t");
            // Families show once they have a child.
            metrics.api_calls.get_or_create(&[("result", "new")]).inc();
            metrics
                .budget_remaining
                .get_or_create(&[("window", "month")])
                .set(1);
            metrics.encode(false).unwrap()
        })
        .concat();
    let dashboard: serde_json::Value =
        serde_json::from_str(&read("monitoring/grafana/dashboards/meteo.json")).unwrap();
    let queried = format!("{dashboard}{}", read("monitoring/alerts.yml"));
    let mut names = BTreeSet::new();
    for (at, _) in queried.match_indices("meteo_") {
        let name: String = queried[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        names.insert(name);
    }
    assert!(names.len() >= 8, "{names:?}");
    for name in names {
        assert!(
            exported.contains(&name),
            "{name} is queried but not exported"
        );
    }
}

#[test]
fn env_read_by_a_subcommand_includes_the_global_options_and_the_api_key() {
    let cli = Cli::command();
    let produce = env_read_by(&cli, cli.find_subcommand("produce").unwrap());
    for var in [
        "KAFKA_BROKERS",
        "METEO_KEYSPACE",
        "METEO_CITIES",
        "OWM_API_KEY",
        "RUST_LOG",
    ] {
        assert!(produce.contains(var), "{var}");
    }
    let consume = env_read_by(&cli, cli.find_subcommand("consume").unwrap());
    assert!(consume.contains("METEO_GROUP") && !consume.contains("OWM_API_KEY"));
}

#[test]
fn compose_durations_are_read_like_compose_reads_them() {
    assert_eq!(compose_duration("45s"), Some(Duration::from_secs(45)));
    assert_eq!(compose_duration("1m30s"), Some(Duration::from_secs(90)));
    assert_eq!(compose_duration("500ms"), Some(Duration::from_millis(500)));
    assert_eq!(compose_duration("45"), None);
    assert_eq!(compose_duration("soon"), None);
}

// ---------------------------------------------------------------------- Dockerfile model

#[derive(Debug)]
struct Stage {
    image: String,
    name: Option<String>,
    /// (instruction in upper case, its arguments), in order.
    instructions: Vec<(String, String)>,
}

/// The stages of a Dockerfile, `${ARG}`s of the global scope substituted into `FROM`.
fn parse_dockerfile(text: &str) -> Result<Vec<Stage>, String> {
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                logical.push(std::mem::take(&mut current));
            }
        }
    }
    let mut args: BTreeMap<String, String> = BTreeMap::new();
    let mut stages: Vec<Stage> = Vec::new();
    for line in logical.iter().filter(|l| !l.is_empty()) {
        let (keyword, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let keyword = keyword.to_ascii_uppercase();
        let rest = rest.trim().to_string();
        if keyword == "FROM" {
            let mut image = rest
                .split_whitespace()
                .find(|w| !w.starts_with("--"))
                .unwrap_or("")
                .to_string();
            for (k, v) in &args {
                image = image
                    .replace(&format!("${{{k}}}"), v)
                    .replace(&format!("${k}"), v);
            }
            let words: Vec<&str> = rest.split_whitespace().collect();
            let name = words
                .iter()
                .position(|w| w.eq_ignore_ascii_case("AS"))
                .and_then(|i| words.get(i + 1))
                .map(|s| s.to_string());
            stages.push(Stage {
                image,
                name,
                instructions: Vec::new(),
            });
        } else if let Some(stage) = stages.last_mut() {
            stage.instructions.push((keyword, rest));
        } else if keyword == "ARG" {
            if let Some((k, v)) = rest.split_once('=') {
                args.insert(k.to_string(), v.trim_matches('"').to_string());
            }
        }
    }
    if stages.is_empty() {
        return Err("no FROM".into());
    }
    Ok(stages)
}

/// `COPY [--flags] src... dest`: (the --from stage, sources, destination).
fn copy_parts(args: &str) -> (Option<String>, Vec<String>, String) {
    let mut from = None;
    let mut words = Vec::new();
    for word in args.split_whitespace() {
        if let Some(stage) = word.strip_prefix("--from=") {
            from = Some(stage.to_string());
        } else if !word.starts_with("--") {
            words.push(word.to_string());
        }
    }
    let dest = words.pop().unwrap_or_default();
    (from, words, dest)
}

fn major_minor(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.trim().split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// The Rust version of a `rust:X.Y[.Z]-slim-<debian>` image, and its Debian release.
fn rust_image(image: &str) -> Option<((u32, u32), String)> {
    let tag = image
        .strip_prefix("rust:")
        .or_else(|| image.strip_prefix("docker.io/library/rust:"))?;
    let (version, variant) = tag.split_once('-')?;
    let debian = variant.strip_prefix("slim-")?;
    Some((major_minor(version)?, debian.to_string()))
}

/// Everything wrong with a Dockerfile, as sentences. `needed` is the lowest Rust version
/// that builds the project (its rust-version and its locked dependencies').
fn dockerfile_problems(stages: &[Stage], needed: (u32, u32)) -> Vec<String> {
    let mut problems = Vec::new();
    let runtime = stages
        .last()
        .expect("parse_dockerfile returns at least one stage");
    let last = |keyword: &str| {
        runtime
            .instructions
            .iter()
            .rev()
            .find(|(k, _)| k == keyword)
            .map(|(_, v)| v.as_str())
    };

    match last("USER") {
        None => problems.push("runtime stage: no USER, so it runs as root".into()),
        Some(user) => {
            let name = user.split(':').next().unwrap_or(user);
            if name == "root" || name == "0" {
                problems.push(format!("runtime stage: USER {user} is root"));
            }
        }
    }
    let entrypoint: Option<Vec<String>> =
        last("ENTRYPOINT").and_then(|e| serde_json::from_str(e).ok());
    if entrypoint != Some(vec!["meteo".to_string()]) {
        problems.push(format!(
            "runtime stage: ENTRYPOINT is {:?}, expected [\"meteo\"] (exec form)",
            last("ENTRYPOINT")
        ));
    }
    if !runtime
        .instructions
        .iter()
        .any(|(k, v)| k == "LABEL" && v.contains("org.opencontainers.image.title"))
    {
        problems.push("runtime stage: no OCI labels".into());
    }

    // The build stage: the one the runtime copies the binary from.
    let copies: Vec<_> = runtime
        .instructions
        .iter()
        .filter(|(k, _)| k == "COPY")
        .map(|(_, v)| copy_parts(v))
        .collect();
    let build = copies
        .iter()
        .find_map(|(from, _, _)| from.as_ref())
        .and_then(|from| {
            stages
                .iter()
                .find(|s| s.name.as_deref() == Some(from.as_str()))
        });
    let runtime_debian = runtime
        .image
        .strip_prefix("debian:")
        .and_then(|t| t.strip_suffix("-slim"))
        .map(str::to_string);
    match build.map(|b| (b, rust_image(&b.image))) {
        None => problems.push("runtime stage: copies nothing from a build stage".into()),
        Some((b, None)) => problems.push(format!(
            "build stage: {} is not an official rust:X.Y-slim-<debian> image",
            b.image
        )),
        Some((b, Some((version, debian)))) => {
            if version < needed {
                problems.push(format!(
                    "build stage: Rust {}.{} is older than the {}.{} the project needs",
                    version.0, version.1, needed.0, needed.1
                ));
            }
            if runtime_debian.as_deref() != Some(debian.as_str()) {
                problems.push(format!(
                    "runtime stage: {} is not debian:{debian}-slim, the release the binary was linked on",
                    runtime.image
                ));
            }
            // Dependencies cached apart: manifests copied, then a build, then the sources.
            let at =
                |pred: &dyn Fn(&(String, String)) -> bool| b.instructions.iter().position(pred);
            let lock = at(&|(k, v)| k == "COPY" && v.contains("Cargo.lock"));
            let deps = at(&|(k, v)| k == "RUN" && v.contains("cargo build"));
            let sources = at(&|(k, v)| {
                k == "COPY"
                    && copy_parts(v)
                        .1
                        .iter()
                        .any(|s| s.trim_end_matches('/') == "src")
            });
            if !matches!((lock, deps, sources), (Some(l), Some(d), Some(s)) if l < d && d < s) {
                problems.push(
                    "build stage: dependencies are not built before the sources are copied".into(),
                );
            }
        }
    }

    // The files the commands need, where the environment tells them to look.
    let env = |name: &str| {
        runtime
            .instructions
            .iter()
            .filter(|(k, _)| k == "ENV")
            .find_map(|(_, v)| {
                v.split_whitespace()
                    .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
                    .map(|v| v.trim_matches('"').to_string())
            })
    };
    for (source, var) in [
        ("cql", "METEO_CQL_DIR"),
        ("data/cities.fr.json", "METEO_CITIES"),
    ] {
        let copied = copies.iter().find(|(from, sources, _)| {
            from.is_none() && sources.iter().any(|s| s.trim_end_matches('/') == source)
        });
        match (copied, env(var)) {
            (None, _) => problems.push(format!("runtime stage: {source} is not copied in")),
            (Some((_, _, dest)), Some(path))
                if path.starts_with('/') && path.trim_end_matches('/') == dest.trim_end_matches('/') => {}
            (Some((_, _, dest)), found) => problems.push(format!(
                "runtime stage: {var} is {found:?}, not the absolute {dest} where {source} is copied"
            )),
        }
    }
    problems
}

/// The platform cargo builds for here (`host:` of `cargo -vV`).
fn host_triple() -> String {
    let out = Process::new(env!("CARGO"))
        .arg("-vV")
        .output()
        .expect("cargo -vV runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("cargo -vV names the host")
        .to_string()
}

/// The project's declared minimum (`rust-version`) and the highest of its locked dependencies'
/// for this platform: the image builds for Linux on the machine's architecture, and a build
/// downloads only that platform's crates, so asking for the others would need a network
/// (`--offline` with an empty cargo home that only `cargo test` filled).
fn rust_needed() -> ((u32, u32), (u32, u32)) {
    let manifest: String = read("Cargo.toml");
    let declared = manifest
        .lines()
        .find_map(|l| l.trim().strip_prefix("rust-version"))
        .and_then(|rest| major_minor(rest.trim_start_matches([' ', '=']).trim_matches('"')))
        .expect("Cargo.toml has a rust-version");
    let out = Process::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .args(["--filter-platform", &host_triple()])
        .current_dir(repo())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let locked = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| major_minor(p["rust_version"].as_str()?))
        .max()
        .unwrap_or(declared);
    (declared, locked)
}

#[test]
fn the_dockerfile_passes_every_check() {
    let stages = parse_dockerfile(&read("Dockerfile")).unwrap();
    let (declared, locked) = rust_needed();
    assert_no_problems(
        "Dockerfile",
        &dockerfile_problems(&stages, declared.max(locked)),
    );
}

#[test]
fn the_dockerfile_checker_catches_a_bad_file() {
    let bad = r#"
ARG RUST_VERSION=1.80
FROM rust:${RUST_VERSION}-slim-bullseye AS build
COPY . .
RUN cargo build --release
FROM debian:bookworm-slim
COPY --from=build /target/release/meteo /usr/local/bin/
COPY cql /app/cql
ENV METEO_CQL_DIR=cql
USER 0:0
ENTRYPOINT meteo
"#;
    let stages = parse_dockerfile(bad).unwrap();
    assert_eq!(stages[0].image, "rust:1.80-slim-bullseye");
    let problems = dockerfile_problems(&stages, (1, 85));
    assert_reports(
        &problems,
        &[
            "USER 0:0 is root",
            "ENTRYPOINT is Some(\"meteo\")",
            "no OCI labels",
            "Rust 1.80 is older than the 1.85",
            "is not debian:bullseye-slim",
            "dependencies are not built before the sources",
            "data/cities.fr.json is not copied in",
            "METEO_CQL_DIR is Some(\"cql\")",
        ],
    );
    let rootless = parse_dockerfile("FROM debian:bookworm-slim\nENTRYPOINT [\"meteo\"]\n").unwrap();
    assert_reports(&dockerfile_problems(&rootless, (1, 85)), &["no USER"]);
}

/// What stops a Dockerfile building offline or with the legacy builder (`DOCKER_BUILDKIT=0`,
/// as scripts/test-containers builds on the lab's engine): a `# syntax=` directive, which makes
/// BuildKit fetch that frontend from Docker Hub, and syntax only BuildKit knows.
fn builder_problems(text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    // Parser directives: `# key=value` lines at the very top, before any other line.
    for line in text.lines().map(str::trim) {
        let directive = line
            .strip_prefix('#')
            .and_then(|c| c.split_once('='))
            .filter(|(key, _)| !key.trim().contains(' '));
        let Some((key, _)) = directive else { break };
        if key.trim().eq_ignore_ascii_case("syntax") {
            problems.push(format!(
                "`{line}`: BuildKit fetches that frontend from Docker Hub, so offline builds fail"
            ));
        }
    }
    let Ok(stages) = parse_dockerfile(text) else {
        return problems;
    };
    // The only flags the legacy builder reads.
    let legacy = ["--from=", "--chown=", "--platform="];
    for (keyword, args) in stages.iter().flat_map(|s| &s.instructions) {
        if args.starts_with("<<") {
            problems.push(format!("{keyword} {args}: a heredoc needs BuildKit"));
        }
        for flag in args.split_whitespace().take_while(|w| w.starts_with("--")) {
            if !legacy.iter().any(|l| flag.starts_with(l)) {
                problems.push(format!("{keyword} {flag}: only BuildKit knows it"));
            }
        }
    }
    problems
}

#[test]
fn the_dockerfile_builds_offline_with_either_builder() {
    assert_no_problems("Dockerfile", &builder_problems(&read("Dockerfile")));
    let bad = "# syntax=docker/dockerfile:1\n# escape=\\\nFROM rust:1.95-slim-bookworm AS build\n\
               RUN --mount=type=cache,target=/src/target cargo build\n\
               FROM debian:bookworm-slim\nCOPY --from=build --chmod=755 /a /b\nRUN <<EOF\n";
    assert_reports(
        &builder_problems(bad),
        &[
            "`# syntax=docker/dockerfile:1`: BuildKit fetches",
            "RUN --mount=type=cache,target=/src/target: only BuildKit",
            "COPY --chmod=755: only BuildKit",
            "RUN <<EOF: a heredoc",
        ],
    );
    // A comment that is not a directive ends the directives.
    assert!(builder_problems("# One image\n# syntax=x\nFROM debian:bookworm-slim\n").is_empty());
}

// -------------------------------------------------------------------------- .dockerignore

/// Whether `.dockerignore` keeps `path` out of the build context: the last matching line
/// wins, `!` lets a path back in, and a line matching a parent folder matches its contents.
fn ignored(dockerignore: &str, path: &str) -> bool {
    let mut out = false;
    for line in dockerignore.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (keep, pattern) = match line.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, line),
        };
        let pattern = pattern.trim_start_matches("./").trim_matches('/');
        let mut prefix = String::new();
        let matched = path.split('/').any(|part| {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            glob(pattern, &prefix)
        });
        if matched {
            out = !keep;
        }
    }
    out
}

/// `*` and `?` within one path segment, `**` across segments.
fn glob(pattern: &str, path: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) if p.get(1) == Some(&b'*') => {
                (0..=s.len()).any(|i| go(&p[2..], &s[i..]))
            }
            (Some(b'*'), _) => (0..=s.len())
                .take_while(|&i| i == 0 || s[i - 1] != b'/')
                .any(|i| go(&p[1..], &s[i..])),
            (Some(b'?'), Some(c)) if *c != b'/' => go(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &s[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), path.as_bytes())
}

#[test]
fn the_build_context_holds_what_the_dockerfile_copies_and_nothing_private() {
    let dockerignore = read(".dockerignore");
    for private in [
        "target",
        "target/release/meteo",
        ".services/kafka/data",
        ".git/HEAD",
        ".env",
    ] {
        assert!(
            ignored(&dockerignore, private),
            "{private} is sent to the Docker build"
        );
    }
    let stages = parse_dockerfile(&read("Dockerfile")).unwrap();
    let sources: Vec<String> = stages
        .iter()
        .flat_map(|s| &s.instructions)
        .filter(|(k, _)| k == "COPY" || k == "ADD")
        .map(|(_, v)| copy_parts(v))
        .filter(|(from, _, _)| from.is_none())
        .flat_map(|(_, sources, _)| sources)
        .collect();
    assert!(sources.len() >= 4, "{sources:?}");
    for source in sources {
        let source = source.trim_end_matches('/');
        assert!(repo().join(source).exists(), "{source} does not exist");
        assert!(
            !ignored(&dockerignore, source),
            "{source} is copied but .dockerignore leaves it out"
        );
    }
    assert!(
        !ignored(&dockerignore, "src/main.rs") && !ignored(&dockerignore, "cql/001_initial.cql")
    );
}

#[test]
fn the_dockerignore_reader_follows_docker_rules() {
    let rules = "*\n!src\n!data/cities.fr.json\ntarget\n";
    assert!(ignored(rules, "README.md"));
    assert!(!ignored(rules, "src/cli.rs"));
    assert!(!ignored(rules, "data/cities.fr.json"));
    assert!(ignored(rules, "data/city.list.json.gz"));
    assert!(ignored(rules, "target/debug"));
    assert!(!ignored("target\n", "src/target.rs"));
    assert!(ignored("**/*.tmp\n", "a/b/c.tmp"));
}
