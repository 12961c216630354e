//! OpenWeatherMap's city list (`city.list.json.gz`, one JSON array of about 210,000
//! `{"id", "name", "state"?, "country", "coord": {"lon", "lat"}}`): read, selected, de-duplicated.
//!
//! - [`read`]: the list as a stream of [`City`] values, bad entries counted and placed;
//!   [`json`] delimits the array's elements, [`entry`] decodes and checks one.
//! - [`select`]: the filters, the limit and the output order; [`dedup`]: near-duplicates.
//! - [`geometry`]: points, distances, the `--near` circle.
//!
//! It only sees a `BufRead`: where the bytes come from (file, download, gzip) is
//! [`super::source`]'s business, and printing is the command's.

mod dedup;
mod entry;
mod geometry;
mod json;
mod read;
mod select;

pub use crate::text::fold_name;
pub use dedup::{drop_near_duplicates, DUPLICATE_RADIUS_KM};
pub use geometry::{distance_km, Near, Point};
pub use read::{read_cities, BadEntry, ListError, ReadReport, BAD_ENTRIES_REPORTED};
pub use select::{sort_by_name, Selected, Selection};
