//! Positions as a fixed-point lattice: 26 bits of latitude and 26 of longitude, the
//! lattice Redis uses for `GEOADD` (geohash step 26), with its decoding and its
//! haversine. A lattice point decodes to the same `f64`s here and in Redis, so the same
//! point is bit for bit the same in both and a radius test gives the same answer; that is
//! what lets `credo bench geo` demand equal result sets. About 0.28 m of latitude and
//! 0.6 m of longitude (at the equator) per step.

/// Latitude range of the lattice (Web Mercator's limits, as in Redis).
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
pub const LON_MIN: f64 = -180.0;
pub const LON_MAX: f64 = 180.0;
/// Steps per axis.
pub const STEPS: u32 = 1 << 26;
/// The quadratic mean radius of WGS-84 that Redis's haversine uses.
pub const EARTH_RADIUS_M: f64 = 6372797.560856;
const D_R: f64 = std::f64::consts::PI / 180.0;

#[inline]
fn rad(deg: f64) -> f64 {
    deg * D_R
}

/// The lattice step that holds `lat` (truncating, as Redis encodes), or `None` off the lattice.
pub fn lat_index(lat: f64) -> Option<u32> {
    index(lat, LAT_MIN, LAT_MAX)
}

/// The lattice step that holds `lon`, or `None` outside −180..180.
pub fn lon_index(lon: f64) -> Option<u32> {
    index(lon, LON_MIN, LON_MAX)
}

fn index(x: f64, min: f64, max: f64) -> Option<u32> {
    if !(min..=max).contains(&x) {
        return None;
    }
    let offset = (x - min) / (max - min) * f64::from(STEPS);
    // In range, so 0 ≤ offset ≤ 2^26; the top edge belongs to the last step.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Some((offset as u32).min(STEPS - 1))
}

/// The latitude of step `i`'s centre, computed as Redis decodes it.
#[inline]
pub fn lat_of(i: u32) -> f64 {
    decode(i, LAT_MIN, LAT_MAX)
}

/// The longitude of step `i`'s centre, computed as Redis decodes it.
#[inline]
pub fn lon_of(i: u32) -> f64 {
    decode(i, LON_MIN, LON_MAX)
}

#[inline]
fn decode(i: u32, min: f64, max: f64) -> f64 {
    let scale = max - min;
    let steps = f64::from(STEPS);
    let lo = min + (f64::from(i) / steps) * scale;
    let hi = min + ((f64::from(i) + 1.0) / steps) * scale;
    ((lo + hi) / 2.0).clamp(min, max)
}

/// Great-circle distance in metres from (`lat1`, `lon1`) to (`lat2`, `lon2`), operation for
/// operation as Redis's `geohashGetDistance` (the first point is a search's centre).
pub fn distance_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let lon1r = rad(lon1);
    let lon2r = rad(lon2);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return EARTH_RADIUS_M * (rad(lat2) - rad(lat1)).abs();
    }
    let lat1r = rad(lat1);
    let lat2r = rad(lat2);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_M * a.sqrt().asin()
}

/// Metres per lattice step of latitude.
pub fn lat_step_m() -> f64 {
    rad((LAT_MAX - LAT_MIN) / f64::from(STEPS)) * EARTH_RADIUS_M
}

/// Metres per lattice step of longitude at the equator.
pub fn lon_step_m() -> f64 {
    rad((LON_MAX - LON_MIN) / f64::from(STEPS)) * EARTH_RADIUS_M
}

/// Degrees to radians, the way the distance does it.
#[inline]
pub(crate) fn to_rad(deg: f64) -> f64 {
    rad(deg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_centre_encodes_to_its_own_step(i in 0u32..STEPS) {
            prop_assert_eq!(lat_index(lat_of(i)), Some(i));
            prop_assert_eq!(lon_index(lon_of(i)), Some(i));
        }

        #[test]
        fn a_coordinate_is_within_half_a_step_of_its_centre(lat in LAT_MIN..LAT_MAX, lon in LON_MIN..LON_MAX) {
            let i = lat_index(lat).unwrap();
            let j = lon_index(lon).unwrap();
            prop_assert!((lat_of(i) - lat).abs() <= (LAT_MAX - LAT_MIN) / f64::from(STEPS));
            prop_assert!((lon_of(j) - lon).abs() <= 360.0 / f64::from(STEPS));
        }
    }

    #[test]
    fn off_the_lattice_is_none() {
        assert_eq!(lat_index(86.0), None);
        assert_eq!(lat_index(f64::NAN), None);
        assert_eq!(lon_index(180.5), None);
        assert_eq!(lat_index(LAT_MAX), Some(STEPS - 1));
    }

    #[test]
    fn known_distances() {
        // Redis's own test: Palermo to Catania is 166274.1516 m.
        // (GEODIST works on the decoded lattice points.)
        let q = |lat: f64, lon: f64| {
            (
                lat_of(lat_index(lat).unwrap()),
                lon_of(lon_index(lon).unwrap()),
            )
        };
        let (a, b) = (q(38.115556, 13.361389), q(37.502669, 15.087269));
        let d = distance_m(a.0, a.1, b.0, b.1);
        assert!((d - 166_274.151_6).abs() < 0.0001, "{d}");
        // One degree of latitude along a meridian (the v == 0 branch).
        let d = distance_m(30.0, 120.0, 31.0, 120.0);
        assert!((d - EARTH_RADIUS_M * D_R).abs() < 1e-6, "{d}");
        assert!((lat_step_m() - 0.2819).abs() < 0.001);
    }
}
