//! One `run` per subcommand: the only place where settings, Kafka, Cassandra and the model
//! meet. Each file owns one command and nothing else.

pub mod dash;
pub mod migrate;
