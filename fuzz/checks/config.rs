//! The configuration reader: arbitrary text as an INI and as a TOML file, then every
//! consumer of the merged configuration. Checks: no panic; errors name the file.
use luigid_rs::config::{Ini, ServerConfig};
use luigid_rs::persistence::PersistConfig;

fn consumers(ini: &Ini) {
    // Each may refuse the values, never panic.
    let _ = ServerConfig::from_ini(ini).map(|c| c.limits());
    let _ = luigid_rs::config::scheduler_config(ini);
    let _ = PersistConfig::from_ini(ini);
    let _ = luigid_rs::auth::Auth::from_ini(ini);
    let _ = luigid_rs::router::RouterState::from_ini(ini);
    let _ = luigid_rs::config::unknown_luigid_rs_keys(ini);
    for name in ini.section_names() {
        for (k, _) in ini.section(name) {
            let _ = ini.get_checked(name, &k);
            let _ = ini.get_bool(name, &k, false);
            let _ = ini.get_i64(name, &k, 0);
            let _ = ini.get_f64(name, &k, 0.0);
            let _ = ini.origin(name, &k);
        }
    }
}

pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut ini = Ini::with_env(&[("HOME", "/h"), ("X", "${X}")]);
    match ini.read_ini_str(text, "fuzz.cfg") {
        Ok(()) => consumers(&ini),
        Err(e) => assert!(e.0.contains("fuzz.cfg"), "error without the file: {}", e.0),
    }
    let mut ini = Ini::with_env(&[]);
    match ini.read_toml_str(text, "fuzz.toml") {
        Ok(()) => consumers(&ini),
        Err(e) => assert!(e.0.contains("fuzz.toml"), "error without the file: {}", e.0),
    }
    let _ = luigid_rs::config::parse_py_int(text);
    let _ = luigid_rs::config::parse_py_float(text);
}
