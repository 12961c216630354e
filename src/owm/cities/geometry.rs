//! Positions on Earth for the city list: a checked [`Point`], the distance between two, and
//! the circle a `--near`/`--radius` selection keeps.

use crate::city::City;

/// Mean Earth radius (IUGG), for the haversine distance.
pub(super) const EARTH_RADIUS_KM: f64 = 6371.0088;

/// A position in degrees, checked to be on Earth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub lat: f64,
    pub lon: f64,
}

impl Point {
    /// A point, or why it is not one (latitude within -90..=90, longitude within -180..=180).
    pub fn new(lat: f64, lon: f64) -> Result<Self, String> {
        if !(lat.is_finite() && (-90.0..=90.0).contains(&lat)) {
            return Err(format!("latitude {lat} is outside -90..90"));
        }
        if !(lon.is_finite() && (-180.0..=180.0).contains(&lon)) {
            return Err(format!("longitude {lon} is outside -180..180"));
        }
        Ok(Self { lat, lon })
    }

    /// Where a city is. Not checked again: the list's reader only lets points on Earth through.
    pub fn of(city: &City) -> Self {
        Self {
            lat: city.lat,
            lon: city.lon,
        }
    }

    /// Parses `LAT,LON` in decimal degrees, e.g. `48.85,2.35`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (lat, lon) = text
            .split_once(',')
            .ok_or_else(|| format!("'{text}' is not LAT,LON (e.g. 48.85,2.35)"))?;
        let number = |part: &str, what: &str| {
            part.trim().parse::<f64>().map_err(|_| {
                format!("'{text}' is not LAT,LON: the {what} '{part}' is not a number")
            })
        };
        Self::new(number(lat, "latitude")?, number(lon, "longitude")?)
            .map_err(|why| format!("'{text}' is not LAT,LON: {why}"))
    }
}

/// Great-circle distance in kilometres (haversine: accurate to about 0.5 %, plenty for 10 km).
pub fn distance_km(a: Point, b: Point) -> f64 {
    let (lat1, lat2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// A circle: the centre and its radius in kilometres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Near {
    pub center: Point,
    pub radius_km: f64,
}

impl Near {
    /// Whether the city lies within the circle (its edge included).
    pub fn contains(&self, city: &City) -> bool {
        self.distance_km(city) <= self.radius_km
    }

    /// How far the city is from the centre.
    pub fn distance_km(&self, city: &City) -> f64 {
        distance_km(self.center, Point::of(city))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_between_paris_and_lyon_is_about_392_km() {
        let paris = Point::new(48.8534, 2.3488).unwrap();
        let lyon = Point::new(45.7485, 4.8467).unwrap();
        let d = distance_km(paris, lyon);
        assert!((d - 392.0).abs() < 3.0, "{d}");
        assert_eq!(distance_km(paris, paris), 0.0);
    }

    #[test]
    fn distance_across_the_antimeridian_is_short() {
        let a = Point::new(0.0, 179.95).unwrap();
        let b = Point::new(0.0, -179.95).unwrap();
        assert!((distance_km(a, b) - 11.1).abs() < 0.2);
    }

    #[test]
    fn points_parse_from_lat_comma_lon_and_are_range_checked() {
        assert_eq!(
            Point::parse("48.85, 2.35").unwrap(),
            Point {
                lat: 48.85,
                lon: 2.35
            }
        );
        assert!(Point::parse("48.85").unwrap_err().contains("LAT,LON"));
        assert!(Point::parse("north,2")
            .unwrap_err()
            .contains("latitude 'north'"));
        assert!(Point::parse("91,2")
            .unwrap_err()
            .contains("outside -90..90"));
        assert!(Point::parse("45,181")
            .unwrap_err()
            .contains("outside -180..180"));
        assert!(Point::parse("NaN,2").is_err());
    }

    #[test]
    fn a_circle_holds_the_cities_within_its_radius_edge_included() {
        let city = |lat| crate::city::french(1, "A", lat, 0.0);
        let near = Near {
            center: Point::new(0.0, 0.0).unwrap(),
            radius_km: distance_km(Point::new(0.0, 0.0).unwrap(), Point::of(&city(1.0))),
        };
        assert!(near.contains(&city(0.5)));
        assert!(near.contains(&city(1.0)));
        assert!(!near.contains(&city(1.01)));
    }
}
