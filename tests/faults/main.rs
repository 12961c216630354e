//! Fault tests: the pipeline while the real services are stopped, frozen or killed under it.
//! They drive `scripts/services` (the same settings as the test run: ports, folder), so they
//! need the local services and run one at a time, after the other tests (see scripts/test).
//! Each fault must really happen and be seen by the program under test, or the test fails.

#[path = "../integration/fake_owm.rs"]
mod fake_owm;
#[path = "../integration/harness.rs"]
mod harness;
#[path = "../integration/scrape.rs"]
mod scrape;
#[path = "../integration/util.rs"]
mod util;

mod consume;
mod pipeline;
mod readiness;
