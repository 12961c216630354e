//! Drawing the state: one widget per pane, placed by [`crate::dash::layout`]. Pure functions of
//! the [`App`] (no I/O, no clock: the time is [`App::now`]), tested with ratatui's `TestBackend`.

mod chart;
mod detail;
mod footer;
pub mod format;
pub mod glyphs;
mod header;
mod help;
pub mod map;
mod table;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::widgets::Widget;

pub use chart::HistoryChart;
pub use detail::Detail;
pub use footer::Footer;
pub use header::Header;
pub use help::Help;
pub use map::MapPane;
pub use table::CityTable;

use super::app::App;
use super::city::City;
use super::layout;
use super::Units;
use format::wind_direction;
use glyphs::Glyphs;

/// How numbers and symbols are drawn: the units, colours or none, Unicode or ASCII.
#[derive(Debug, Clone, Copy)]
pub struct Look {
    pub units: Units,
    pub color: bool,
    pub ascii: bool,
    /// The symbols of `ascii`'s set.
    pub glyphs: &'static Glyphs,
}

impl Look {
    pub fn of(app: &App) -> Look {
        Look {
            units: app.units,
            color: app.settings.color,
            ascii: app.settings.ascii,
            glyphs: Glyphs::of(app.settings.ascii),
        }
    }

    /// "°C" or "°F"; " C" or " F" in ASCII.
    pub fn temperature_unit(self) -> String {
        self.units
            .temperature_unit()
            .replace('°', self.glyphs.degree)
    }

    /// Text from outside (a name, a description) as this terminal can draw it: as is, or in
    /// ASCII ([`crate::text::to_ascii`]) when the locale is not UTF-8.
    pub fn text(self, text: &str) -> std::borrow::Cow<'_, str> {
        if self.ascii && !text.is_ascii() {
            std::borrow::Cow::Owned(crate::text::to_ascii(text))
        } else {
            std::borrow::Cow::Borrowed(text)
        }
    }

    /// A style with this foreground colour, or plain under `NO_COLOR`.
    pub fn fg(self, color: Color) -> Style {
        if self.color {
            Style::new().fg(color)
        } else {
            Style::new()
        }
    }

    /// A temperature in °C, converted, to a tenth, never "-0.0" ([`format::tenths`]);
    /// [`format::OUT_OF_RANGE`] outside the documented range.
    pub fn temperature(self, celsius: f64) -> String {
        format::in_range(celsius, &crate::model::TEMPERATURE_RANGE_C, |c| {
            format::tenths(self.units.temperature(c))
        })
    }

    /// A speed in m/s, converted: to a tenth below 10, whole above; out of range as
    /// [`Self::temperature`].
    pub fn speed(self, metres_per_second: f64) -> String {
        format::in_range(metres_per_second, &crate::model::WIND_RANGE_MS, |m| {
            let v = self.units.speed(m);
            if v < 10.0 {
                format!("{v:.1}")
            } else {
                format!("{v:.0}")
            }
        })
    }

    /// The table's wind cell: speed and direction.
    pub fn wind(self, city: &City) -> String {
        let r = &city.reading;
        let speed = r.wind_speed.map(|s| self.speed(s)).unwrap_or("-".into());
        let direction = r
            .wind_deg
            .map(|d| wind_direction(d, self.ascii))
            .unwrap_or_default();
        format!("{speed:>4} {direction}")
    }
}

/// The whole screen: every pane that fits, the help over them when asked for.
impl Widget for &App {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let panes = layout::panes(area, self.show_map);
        Header(self).render(panes.header, buf);
        CityTable(self).render(panes.table, buf);
        if let Some(detail) = panes.detail() {
            Detail(self).render(detail, buf);
        }
        if let Some(map) = panes.map() {
            MapPane {
                app: self,
                block: Glyphs::of(self.settings.ascii).block().title(" Map "),
            }
            .render(map, buf);
        }
        Footer(self).render(panes.footer, buf);
        if self.show_help {
            Help(self).render(area, buf);
        }
    }
}

/// The plain text of a buffer, one string per line (tests and the snapshot check).
pub fn buffer_lines(buf: &Buffer) -> Vec<String> {
    let area = buf.area;
    (area.top()..area.bottom())
        .map(|y| {
            let mut line = String::new();
            for x in area.left()..area.right() {
                line.push_str(buf[(x, y)].symbol());
            }
            line
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dash::app::LoadingState;
    use crate::dash::city::Point;
    use crate::dash::fixtures::{loaded, now, reading};
    use crate::dash::refresh::Update;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use format::weather_icon;
    use ratatui::backend::TestBackend;
    use ratatui::style::{Color, Modifier};
    use ratatui::Terminal;

    fn draw(app: &App) -> Buffer {
        let mut terminal =
            Terminal::new(TestBackend::new(app.area.width, app.area.height)).unwrap();
        terminal.draw(|f| f.render_widget(app, f.area())).unwrap();
        terminal.backend().buffer().clone()
    }

    fn text(buf: &Buffer) -> String {
        buffer_lines(buf).join("\n")
    }

    fn press(app: &mut App, c: char) {
        app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }

    /// The table row of `city` (not the detail pane's title).
    fn row_of(buf: &Buffer, city: &str) -> (u16, String) {
        buffer_lines(buf)
            .into_iter()
            .enumerate()
            .find(|(_, l)| l.contains(city) && l.contains('%'))
            .map(|(y, l)| (y as u16, l))
            .unwrap_or_else(|| panic!("{city:?} not in the table:\n{}", text(buf)))
    }

    /// The screen line holding `needle`, and its row.
    fn line_with(buf: &Buffer, needle: &str) -> (u16, String) {
        buffer_lines(buf)
            .into_iter()
            .enumerate()
            .find(|(_, l)| l.contains(needle))
            .map(|(y, l)| (y as u16, l))
            .unwrap_or_else(|| panic!("{needle:?} not on screen:\n{}", text(buf)))
    }

    /// At 120x40, the cities the dashboard was seen failing on: a long name, an accented one
    /// with an accented description, a pressure of four digits, a minimum just below zero, a
    /// clear night and mist.
    fn polish(ascii: bool) -> App {
        let mut readings = vec![
            reading(11, "Boulogne-Billancourt", 6.0, 3),
            reading(12, "Alençon", 0.4, 4),
            reading(13, "Caen", 3.0, 5),
        ];
        readings[0].pressure = Some(1013);
        readings[1].weather_description = Some("pluie modérée".into());
        readings[1].weather_icon = Some("10n".into());
        readings[1].temp_min = Some(-0.04);
        readings[2].weather_icon = Some("01n".into());
        readings[2].weather_description = Some("ciel dégagé".into());
        let mut app = loaded(120, 40);
        app.settings.ascii = ascii;
        app.apply(Update::Latest {
            at: now(),
            result: Ok(readings
                .into_iter()
                .map(crate::dash::city::City::new)
                .collect()),
        });
        app
    }

    #[test]
    fn at_120_by_40_a_name_of_20_letters_is_whole_in_the_table() {
        let buf = draw(&polish(false));
        let (_, row) = row_of(&buf, "Boulogne-Billancourt");
        assert!(
            row.contains("pluie modérée") || row.contains("nuageux"),
            "{row}"
        );
        let (_, alencon) = row_of(&buf, "Alençon");
        assert!(alencon.contains("pluie modérée"), "{alencon}");
    }

    #[test]
    fn at_120_by_40_the_detail_keeps_each_item_whole_and_every_line_in_view() {
        let mut app = polish(false);
        app.cities
            .iter_mut()
            .filter(|c| c.id() == 11)
            .for_each(|c| {
                c.reading.wind_gust = Some(12.5);
                c.reading.weather_description = Some("partiellement nuageux".into());
            });
        press(&mut app, 'j');
        assert_eq!(app.selected().map(|c| c.id()), Some(11));
        let buf = draw(&app);
        let screen = text(&buf);
        for item in [
            "1013 hPa",
            "sunrise 08:17 sunset 16:56",
            "at 19:57 UTC",
            "hum 81%",
        ] {
            assert!(
                screen.contains(item),
                "{item:?} not whole on one line:\n{screen}"
            );
        }
        // The lines come before the chart's first line, never under it.
        let (at, _) = line_with(&buf, "at 19:57 UTC");
        let (loading, _) = line_with(&buf, "loading the last 24 h");
        assert!(at < loading, "{screen}");
    }

    #[test]
    fn a_temperature_that_rounds_to_zero_is_written_without_a_minus() {
        let screen = text(&draw(&polish(false)));
        assert!(screen.contains("min 0.0 max"), "{screen}");
        assert!(!screen.contains("-0.0"), "{screen}");
    }

    #[test]
    fn the_help_names_every_icon_the_table_uses_and_none_alone_on_a_line() {
        let mut app = polish(false);
        press(&mut app, '?');
        let buf = draw(&app);
        let (_, night) = line_with(&buf, "☾ clear night");
        assert!(night.contains("☀ clear "), "{night}");
        let (_, mist) = line_with(&buf, "≡ mist");
        assert!(mist.contains("snow"), "mist alone: {mist}");
    }

    #[test]
    fn without_a_utf8_locale_names_and_descriptions_are_ascii_too() {
        let app = polish(true);
        let buf = draw(&app);
        let screen = text(&buf);
        for needle in [
            "Alencon",
            "pluie moderee",
            "ciel degage",
            "Boulogne-Billancourt",
        ] {
            assert!(screen.contains(needle), "{needle:?} missing:\n{screen}");
        }
        let found: Vec<&str> = buf
            .content()
            .iter()
            .map(|c| c.symbol())
            .filter(|s| !s.is_ascii())
            .collect();
        assert!(found.is_empty(), "{found:?} drawn:\n{screen}");
    }

    #[test]
    fn the_table_shows_every_column_of_every_city() {
        let app = loaded(120, 40);
        let buf = draw(&app);
        let (_, header) = line_with(&buf, "City");
        for column in ["Temp°C", "Feels", "Hum", "Wind m/s", "Weather", "Age"] {
            assert!(header.contains(column), "{column} missing: {header}");
        }
        let (_, paris) = line_with(&buf, "Paris ");
        for cell in ["☁   7.3", "5.3", "81%", "3.6 ↗ SW", "nuageux", "5m"] {
            assert!(paris.contains(cell), "{cell:?} missing: {paris}");
        }
        for name in ["Brest", "Évry", "Lyon", "Saint-Étienne"] {
            line_with(&buf, name);
        }
    }

    #[test]
    fn impossible_values_show_as_out_of_range_in_the_table() {
        let mut app = loaded(120, 40);
        let mut hot = crate::dash::fixtures::reading(6, "Chaud", 1e308, 1);
        hot.humidity = i32::MIN;
        let cold = crate::dash::fixtures::reading(7, "Froid", -1e308, 1);
        app.apply(Update::Latest {
            at: app.now,
            result: Ok(vec![City::new(hot), City::new(cold)]),
        });
        let buf = draw(&app);
        // The table rows, not the detail pane's title.
        let (_, chaud) = line_with(&buf, "▶Chaud");
        // Temperature, feels, humidity; the detail pane beside it: humidity.
        assert_eq!(chaud.matches("out").count(), 3 + 1, "{chaud}");
        let (_, froid) = line_with(&buf, "│ Froid");
        assert!(froid.contains("out"), "{froid}");
        let screen = text(&buf);
        assert!(
            !screen.contains("8336") && !screen.contains("648%"),
            "{screen}"
        );
    }

    #[test]
    fn the_header_counts_cities_and_names_source_and_connection() {
        let buf = draw(&loaded(120, 40));
        let header = &buffer_lines(&buf)[0];
        assert!(header.contains("FR"), "{header}");
        assert!(header.contains("5 cities"), "{header}");
        assert!(header.contains("newest 19:59 oldest 16:40 UTC"), "{header}");
        assert!(header.contains("age p50 12m p95 3h"), "{header}");
        assert!(header.contains("LIVE"), "{header}");
        assert!(header.contains("Cassandra 20:00:00"), "{header}");
    }

    #[test]
    fn sorting_by_temperature_puts_the_hottest_first() {
        let mut app = loaded(120, 40);
        press(&mut app, 's');
        let buf = draw(&app);
        let (lyon, _) = row_of(&buf, "Lyon");
        let (brest, _) = row_of(&buf, "Brest");
        let (header, _) = line_with(&buf, "Weather");
        assert_eq!(lyon, header + 1);
        assert!(brest > lyon);
        assert!(text(&buf).contains("by temperature"));
    }

    #[test]
    fn a_search_filters_the_table_and_shows_in_the_footer() {
        let mut app = loaded(120, 40);
        press(&mut app, '/');
        for c in "etie".chars() {
            press(&mut app, c);
        }
        let buf = draw(&app);
        let screen = text(&buf);
        assert!(screen.contains("Saint-Étienne"));
        assert!(!screen.contains("Brest"), "{screen}");
        assert!(buffer_lines(&buf).last().unwrap().starts_with("/etie"));
    }

    #[test]
    fn the_unit_switch_converts_temperatures_and_wind() {
        let mut app = loaded(120, 40);
        press(&mut app, 'u');
        let buf = draw(&app);
        assert!(text(&buf).contains("Wind km/h"));
        let (_, paris) = line_with(&buf, "Paris ");
        assert!(paris.contains("13 ↗ SW"), "{paris}");
        press(&mut app, 'u');
        let buf = draw(&app);
        assert!(text(&buf).contains("Temp°F"));
        let (_, paris) = line_with(&buf, "Paris ");
        assert!(paris.contains("45.1"), "7.3 °C is 45.1 °F: {paris}");
        assert!(paris.contains("8.1 ↗ SW"), "3.6 m/s is 8.1 mph: {paris}");
    }

    #[test]
    fn stale_readings_are_dimmed_and_fresh_ones_coloured() {
        let app = loaded(120, 40);
        let buf = draw(&app);
        let (y, line) = line_with(&buf, "Lyon");
        let x = line.find("Lyon").unwrap() as u16;
        assert!(buf[(x, y)].modifier.contains(Modifier::DIM));
        let (y, _) = line_with(&buf, "Paris ");
        let temp_x = line_with(&buf, "Paris ").1.find("7.3").unwrap() as u16;
        // find() counts bytes; the row before 7.3 holds multi-byte symbols, so look around it.
        let coloured = (temp_x.saturating_sub(4)..temp_x + 2).any(|x| {
            buf[(x, y)].fg == Color::Cyan && !buf[(x, y)].modifier.contains(Modifier::DIM)
        });
        assert!(coloured, "Paris at 7.3 °C is drawn cyan");
    }

    #[test]
    fn a_stale_rows_age_is_dimmed_and_a_fresh_rows_is_not() {
        // Lyon is 200 minutes old, past the hour's limit; Paris 5 minutes.
        let app = loaded(120, 40);
        let buf = draw(&app);
        for (city, age, dim) in [("Lyon", " 3h", true), ("Paris ", " 5m", false)] {
            let (y, line) = line_with(&buf, city);
            // The age is the row's last cell: its position in columns, not bytes.
            let chars: Vec<char> = line.chars().collect();
            let x = line[..line.rfind(age).unwrap()].chars().count() + 1;
            assert_eq!(chars[x], age.chars().nth(1).unwrap(), "{line}");
            let cell = &buf[(x as u16, y)];
            assert_eq!(cell.modifier.contains(Modifier::DIM), dim, "{city}: {line}");
        }
    }

    #[test]
    fn no_color_draws_without_any_colour_but_keeps_dimming_and_selection() {
        let mut app = loaded(120, 40);
        app.settings.color = false;
        let buf = draw(&app);
        for cell in buf.content() {
            assert_eq!(cell.fg, Color::Reset, "{cell:?}");
            assert_eq!(cell.bg, Color::Reset, "{cell:?}");
        }
        let (y, line) = line_with(&buf, "Lyon");
        assert!(buf[(line.find("Lyon").unwrap() as u16, y)]
            .modifier
            .contains(Modifier::DIM));
        let (y, _) = row_of(&buf, "Brest");
        assert!(buf[(5, y)].modifier.contains(Modifier::REVERSED));
    }

    #[test]
    fn the_map_plots_cities_and_marks_the_selected_one_and_m_hides_it() {
        let mut app = loaded(200, 60);
        let buf = draw(&app);
        let map = layout::panes(app.area, true).map().unwrap();
        let inside = |buf: &Buffer, pred: &dyn Fn(&str) -> bool| {
            (map.top() + 1..map.bottom() - 1)
                .any(|y| (map.left() + 1..map.right() - 1).any(|x| pred(buf[(x, y)].symbol())))
        };
        assert!(text(&buf).contains(" Map "));
        assert!(inside(&buf, &|s| s == "X"), "the selected city is marked");
        assert!(inside(&buf, &|s| s
            .chars()
            .any(|c| ('\u{2801}'..='\u{28ff}').contains(&c))));
        // Brest (-2 °C) is blue, Lyon (11.5 °C) green: both colours are on the map.
        for colour in [Color::Blue, Color::Green] {
            let found = (map.top()..map.bottom())
                .any(|y| (map.left()..map.right()).any(|x| buf[(x, y)].fg == colour));
            assert!(found, "{colour:?} missing from the map");
        }
        press(&mut app, 'm');
        let buf = draw(&app);
        assert!(!text(&buf).contains(" Map "));
    }

    #[test]
    fn at_80_by_24_every_pane_fits_and_the_keys_are_shown() {
        let app = loaded(80, 24);
        let panes = layout::panes(app.area, true);
        assert!(panes.detail().is_some() && panes.map().is_some());
        assert!(panes.table_body().height >= 5, "{panes:?}");
        let buf = draw(&app);
        let screen = text(&buf);
        for needle in ["Cities", "Paris", "Brest", " Map ", "q quit"] {
            assert!(screen.contains(needle), "{needle} missing:\n{screen}");
        }
        // The detail pane of the selected city, with its sunrise in local time (UTC+1).
        assert!(screen.contains("sunrise 08:17"), "{screen}");
        // The wind the same way in the table and the detail: from the south-west.
        assert!(screen.contains("wind 3.6 m/s ↗ SW"), "{screen}");
    }

    /// `app` with the selected city's (Brest's) last 24 hours, one reading an hour.
    fn with_a_day_of_history(mut app: App) -> App {
        let points = (0..24)
            .map(|h| Point {
                at: now() - chrono::Duration::hours(h),
                temperature: 5.0 + h as f64 / 4.0,
                feels_like: Some(3.0),
                humidity: 80,
            })
            .rev()
            .collect();
        app.apply(Update::History {
            city_id: 4,
            result: Ok(points),
        });
        app
    }

    /// The symbols drawn that are not ASCII, but for the letters of names from outside (Évry).
    fn not_ascii(buf: &Buffer) -> Vec<String> {
        let outside_letters = |s: &str| s.chars().all(char::is_alphabetic);
        let mut found: Vec<String> = buf
            .content()
            .iter()
            .map(|c| c.symbol())
            .filter(|s| !s.is_ascii() && !outside_letters(s))
            .map(String::from)
            .collect();
        found.sort();
        found.dedup();
        found
    }

    #[test]
    fn without_a_utf8_locale_everything_drawn_is_ascii() {
        for (width, height) in [(80, 24), (200, 60)] {
            let mut screens = Vec::new();
            let mut app = with_a_day_of_history(loaded(width, height));
            app.settings.ascii = true;
            screens.push(draw(&app));
            press(&mut app, '?');
            screens.push(draw(&app));
            press(&mut app, '?');
            for c in "/zz".chars() {
                press(&mut app, c);
            }
            screens.push(draw(&app));
            app.apply(Update::Latest {
                at: now(),
                result: Err("Cassandra at 127.0.0.1:1 did not answer".into()),
            });
            screens.push(draw(&app));
            let mut fresh = App::new(
                crate::dash::DashSettings::new(crate::model::CountryCode::FR),
                now(),
                Rect::new(0, 0, width, height),
            );
            fresh.settings.ascii = true;
            screens.push(draw(&fresh));
            for buf in &screens {
                let found = not_ascii(buf);
                assert!(found.is_empty(), "{found:?} drawn:\n{}", text(buf));
            }
            let screen = text(&screens[0]);
            for needle in [
                "+---",
                "Temp C",
                " | age p50 12m p95 3h | ",
                "24h 5.0...10.8",
                " - ",
            ] {
                assert!(screen.contains(needle), "{needle:?} missing:\n{screen}");
            }
        }
    }

    #[test]
    fn with_a_utf8_locale_boxes_and_symbols_are_unicode() {
        let buf = draw(&with_a_day_of_history(loaded(200, 60)));
        let screen = text(&buf);
        for needle in [
            "┌ Cities",
            "Temp°C",
            "cities │ newest",
            "24h 5.0…10.8",
            " · ",
            "⣿ temp °C",
        ] {
            assert!(screen.contains(needle), "{needle:?} missing:\n{screen}");
        }
    }

    #[test]
    fn at_200_by_60_the_panes_sit_side_by_side_with_the_chart() {
        let app = with_a_day_of_history(loaded(200, 60));
        let panes = layout::panes(app.area, true);
        assert_eq!(panes.table.y, panes.detail().unwrap().y);
        assert!(panes.map().unwrap().height >= 30);
        let buf = draw(&app);
        let screen = text(&buf);
        for needle in ["-24h", "now", "24h 5.0…10.8"] {
            assert!(screen.contains(needle), "{needle} missing:\n{screen}");
        }
        // The legend is on the detail pane's bottom border, under the chart.
        let bottom = buffer_lines(&buf)[panes.detail().unwrap().bottom() as usize - 1].clone();
        assert!(
            bottom.contains("⣿ temp °C") && bottom.contains("• feels"),
            "{bottom}"
        );
    }

    /// The cities, one of them synthetic with a long name and description, and Cassandra down
    /// since [`now`]: the longest header and the longest cells.
    fn crowded(width: u16) -> App {
        let mut app = loaded(width, 24);
        let mut long = reading(6, "Saint-Rémy-de-Provence-sur-Durance", 12.0, 3);
        long.source = Some("synthetic".into());
        long.weather_description = Some("partiellement nuageux".into());
        let mut all = crate::dash::fixtures::cities();
        all.push(City::from_reading(&long));
        app.apply(Update::Latest {
            at: now(),
            result: Ok(all),
        });
        app.apply(Update::Latest {
            at: now(),
            result: Err("Cassandra at 127.0.0.1:1 did not answer within 10 s".into()),
        });
        app
    }

    #[test]
    fn at_80_columns_the_header_clock_is_whole() {
        let header = buffer_lines(&draw(&crowded(80)))[0].clone();
        assert!(header.contains("DOWN since 20:00:00"), "{header}");
        assert!(header.contains("6 cities"), "{header}");
        // The ages stay, shorter, when the span of times has gone.
        assert!(header.contains("p50 5m p95 3h"), "{header}");
        // With room, every part is there in full.
        let header = buffer_lines(&draw(&crowded(120)))[0].clone();
        for part in [
            "newest 19:59 oldest 16:40 UTC",
            "age p50 5m p95 3h",
            "LIVE+SYNTHETIC",
            "Cassandra DOWN since 20:00:00",
        ] {
            assert!(header.contains(part), "{part} missing: {header}");
        }
    }

    #[test]
    fn at_80_columns_cut_names_and_descriptions_end_with_an_ellipsis_between_words() {
        let mut app = crowded(80);
        press(&mut app, 'G');
        let buf = draw(&app);
        let (_, row) = row_of(&buf, "Saint-Rémy");
        assert!(row.contains("Saint-Rémy-de-Provence… "), "{row}");
        assert!(row.contains(" partiellement… "), "{row}");
        // The footer's error too, where it is cut.
        let mut narrow = crowded(40);
        narrow.show_map = false;
        let footer = buffer_lines(&draw(&narrow)).last().unwrap().clone();
        assert!(footer.trim_end().ends_with(": Cassandra at…"), "{footer}");
    }

    #[test]
    fn a_city_name_full_of_escape_sequences_is_drawn_as_plain_text() {
        let mut r = reading(
            7,
            "\x1b[2J\x1b[H\x1b]0;pwned\x07Nî\x1b[31mmes\u{9b}5m\x07\r\n",
            20.0,
            1,
        );
        r.weather_description = Some("\x1b]8;;http://evil\x1b\\ciel\x1b]8;;\x1b\\ clair".into());
        r.weather_icon = Some("\x1b[5m01d".into());
        let mut app = loaded(120, 40);
        app.apply(Update::Latest {
            at: now(),
            result: Ok(vec![City::from_reading(&r)]),
        });
        let buf = draw(&app);
        for cell in buf.content() {
            assert!(
                !cell.symbol().chars().any(|c| c.is_control()),
                "control character drawn: {cell:?}"
            );
        }
        let screen = text(&buf);
        assert!(screen.contains("Nîmes"), "{screen}");
        assert!(screen.contains("ciel clair"), "{screen}");
        assert!(
            !screen.contains("pwned") && !screen.contains("evil"),
            "{screen}"
        );
    }

    #[test]
    fn a_lost_connection_keeps_the_table_and_says_so() {
        let mut app = loaded(120, 40);
        app.apply(Update::Latest {
            at: now(),
            result: Err("Cassandra at 127.0.0.1:1 did not answer within 10 s".into()),
        });
        let buf = draw(&app);
        let screen = text(&buf);
        assert!(screen.contains("Cassandra DOWN since 20:00:00"), "{screen}");
        assert!(screen.contains("Paris"));
        assert!(buffer_lines(&buf).last().unwrap().contains("127.0.0.1:1"));
    }

    #[test]
    fn a_missing_keyspace_is_said_as_such_whole_at_80_columns() {
        let mut app = App::new(
            crate::dash::DashSettings::new(crate::model::CountryCode::FR),
            now(),
            Rect::new(0, 0, 80, 24),
        );
        app.apply(Update::Latest {
            at: now(),
            result: Err(crate::dash::refresh::Failure::NoKeyspace(
                "keyspace meteo_weather_archive does not exist: run meteo migrate".into(),
            )),
        });
        let buf = draw(&app);
        let screen = text(&buf);
        assert!(!screen.contains("DOWN"), "{screen}");
        assert!(screen.contains("no keyspace"), "{screen}");
        // Whole in the table, where the eye goes first, and in the footer.
        let lines = buffer_lines(&buf);
        let said = "keyspace meteo_weather_archive does not exist: run meteo migrate";
        assert!(lines[..12].iter().any(|l| l.contains(said)), "{screen}");
        assert!(lines.last().unwrap().contains(said), "{screen}");
    }

    #[test]
    fn before_the_first_answer_the_table_says_it_is_connecting() {
        let app = App::new(
            crate::dash::DashSettings::new(crate::model::CountryCode::FR),
            now(),
            Rect::new(0, 0, 80, 24),
        );
        let screen = text(&draw(&app));
        assert!(screen.contains("connecting to Cassandra"), "{screen}");
        assert!(screen.contains("0 cities"));
    }

    #[test]
    fn tiny_and_odd_sizes_draw_without_panicking() {
        for (w, h) in [
            (1, 1),
            (10, 3),
            (20, 5),
            (40, 15),
            (79, 23),
            (119, 16),
            (300, 100),
        ] {
            let mut app = loaded(w, h);
            press(&mut app, '?');
            draw(&app);
            app.show_help = false;
            app.history = Some((4, LoadingState::Error("x".repeat(500))));
            draw(&app);
        }
    }

    #[test]
    fn ascii_mode_draws_icons_and_directions_in_ascii() {
        let mut app = loaded(120, 40);
        app.settings.ascii = true;
        let buf = draw(&app);
        let (_, paris) = line_with(&buf, "Paris ");
        assert!(paris.contains("@   7.3"), "{paris}");
        assert!(paris.contains("3.6 SW"), "{paris}");
        assert_eq!(weather_icon("13n", true), "+");
        assert_eq!(Units::Metric.speed_unit(), "m/s");
    }

    #[test]
    fn the_help_lists_the_keys() {
        let mut app = loaded(80, 24);
        press(&mut app, '?');
        let screen = text(&draw(&app));
        for needle in [
            " Keys ",
            "search by name",
            "show or hide the map",
            "quit",
            "Wind ↗ SW: from the south-west",
        ] {
            assert!(screen.contains(needle), "{needle} missing:\n{screen}");
        }
    }
}
