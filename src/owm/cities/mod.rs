//! OpenWeatherMap's city list (`city.list.json.gz`, one JSON array of about 210,000 entries):
//! read from any `BufRead` as a stream, selected, de-duplicated. Never prints.

// Near-duplicates: the same name within 10 km.
mod dedup;
// One array element decoded and checked into a `City`.
mod entry;
// Points, distances, the `--near` circle.
mod geometry;
// Delimits the array's elements without holding the list.
mod json;
// The list as a stream of cities, bad entries counted and placed.
mod read;
// The filters, the limit and the output order.
mod select;

pub use crate::text::fold_name;
pub use dedup::{drop_near_duplicates, DUPLICATE_RADIUS_KM};
pub use geometry::{distance_km, Near, Point};
pub use json::ListError;
pub use read::{read_cities, BadEntry, ReadReport, BAD_ENTRIES_REPORTED};
pub use select::{sort_by_name, Selected, Selection, MAX_MATCHED};
