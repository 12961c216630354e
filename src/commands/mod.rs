//! One `run` per subcommand: glue only. Typed settings in, the engine run, an error (exit 1)
//! or nothing (exit 0) out. The only place where the modules meet.

pub mod cities;
pub mod consume;
pub mod dash;
pub mod docs;
pub mod migrate;
pub mod probe;
pub mod produce;
